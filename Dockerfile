# drplan: one image for every process (api, coordinator, agent, serve); the command picks one.
# Build stage: compile TypeScript to dist/ (with the dashboard's static files).
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Runtime stage: production dependencies and the compiled code only.
FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# The image has Node 24 itself: the Node binary the package brings for older systems is dropped.
RUN npm ci --omit=dev --no-audit --no-fund && rm -rf node_modules/node-linux-* node_modules/.bin/node && npm cache clean --force
COPY bin ./bin
COPY --from=build /app/dist ./dist
# services/ and plans/ are mounted (docker-compose.yml): they are the deployment's, not the image's.
# Agents mount each node's volume at /app/var/demo: data and drplan's staging beside it share a filesystem.
RUN mkdir -p /app/services /app/plans /app/var/demo && chown -R node:node /app/var
USER node
ENTRYPOINT ["node", "--max-semi-space-size=2", "bin/drplan.js"]
CMD ["serve"]
