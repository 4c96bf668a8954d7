# drplan: one image for every process (api, coordinator, agent, serve); the command picks one.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY services ./services
COPY plans ./plans
# Agents mount each node's volume at /app/var/demo: data and drplan's staging beside it share a filesystem.
RUN mkdir -p /app/var/demo && chown -R node:node /app/var
USER node
ENTRYPOINT ["node", "bin/drplan.js"]
CMD ["serve"]
