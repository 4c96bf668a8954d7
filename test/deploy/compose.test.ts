import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { loadSpecs } from '../../src/config/index.js';
import { dataDirOf } from '../../src/engine/index.js';
import { buildProgram } from '../../src/main/cli.js';
import { parseNode } from '../../src/main/runtime.js';
import { builtinTaskNames } from '../../src/tasks/index.js';
import { drplanArgs, drplanNodeFlags } from '../../scripts/lib/services.js';

interface ComposeService {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}

const root = join(import.meta.dirname, '../..');
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
};
const services = compose.services;
const drplan = Object.entries(services).filter(([name]) => name !== 'redis');
const demo = loadSpecs(join(root, 'services'), join(root, 'plans'), builtinTaskNames()).services.get('demo')!;

describe('docker-compose.yml (checked, not run: there is no Docker engine here)', () => {
  it('runs redis with a password, AOF on and without eviction, with a volume and a health check', () => {
    const redis = services['redis']!;
    assert.match(redis.image ?? '', /^redis:7/);
    const command = redis.command!.join(' ');
    assert.match(command, /--appendonly yes/);
    assert.match(command, /--maxmemory-policy noeviction/);
    assert.match(command, /--requirepass \$\{REDIS_PASSWORD:\?/);
    assert.match(redis.environment?.['REDISCLI_AUTH'] ?? '', /^\$\{REDIS_PASSWORD:\?/, 'the health check authenticates');
    assert.ok(redis.volumes?.some((v) => v.endsWith(':/data')));
    assert.deepEqual(redis.healthcheck?.test, ['CMD', 'redis-cli', 'ping']);
  });

  it('has an api, a coordinator and one agent per demo node, all from this image and valid drplan commands', () => {
    const names = drplan.map(([name]) => name).sort();
    const count = demo.pods['node']!.count;
    assert.deepEqual(names, [...Array.from({ length: count }, (_, i) => `agent-${i}`), 'api', 'coordinator'].sort());
    const known = buildProgram({}).commands.map((c) => c.name());
    for (const [name, service] of drplan) {
      assert.equal(service.build, '.', `${name} builds this repository`);
      assert.match(service.environment?.['REDIS_URL'] ?? '', /^redis:\/\/:\$\{REDIS_PASSWORD:\?[^}]*\}@redis:6379$/, `${name} uses the redis service, with its password`);
      // The YAML is the deployment's: mounted read-only where the processes read it.
      assert.ok(service.volumes?.includes('./services:/app/services:ro') && service.volumes.includes('./plans:/app/plans:ro'), `${name} mounts services/ and plans/`);
      assert.deepEqual([service.environment?.['DRPLAN_SERVICES_DIR'], service.environment?.['DRPLAN_PLANS_DIR']], ['/app/services', '/app/plans']);
      for (const variable of Object.values(demo.locations).flatMap((l) => Object.values(l.credentialsEnv))) {
        assert.ok(service.environment?.[variable] !== undefined, `${name} passes ${variable}, which a location of the demo names`);
      }
      assert.match(service.environment?.['DRPLAN_SECRET_KEY'] ?? '', /^\$\{DRPLAN_SECRET_KEY:\?/, `${name} requires the secret key`);
      assert.equal(service.depends_on?.['redis']?.condition, 'service_healthy');
      assert.ok(known.includes(service.command![0]!), `${name}: '${service.command![0]}' is a drplan command`);
    }
    assert.deepEqual(services['api']!.command, ['api']);
    assert.deepEqual(services['coordinator']!.command, ['coordinator']);
  });

  it('the api listens beyond loopback only with a token, published on loopback', () => {
    const api = services['api']!;
    assert.equal(api.environment?.['HOST'], '0.0.0.0');
    assert.match(api.environment?.['DRPLAN_API_TOKEN'] ?? '', /^\$\{DRPLAN_API_TOKEN:\?/);
    assert.deepEqual(api.ports, ['127.0.0.1:8080:8080']);
  });

  it('each agent serves one node and keeps that node’s data, and drplan’s staging beside it, on its own volume', () => {
    const volumes = new Set<string>();
    for (let index = 0; index < demo.pods['node']!.count; index += 1) {
      const agent = services[`agent-${index}`]!;
      const command = agent.command!;
      assert.deepEqual(command.slice(0, 3), ['agent', '--service', 'demo']);
      const node = parseNode(demo, command[command.indexOf('--node') + 1]!);
      assert.equal(node.index, index);
      const [volume, mount] = agent.volumes![0]!.split(':');
      assert.ok(compose.volumes[volume!] !== undefined, `${volume} is declared`);
      volumes.add(volume!);
      // In the image the repository lives at /app; the data dir and its '.drplan' sibling must be on the volume.
      const inImage = dataDirOf(demo, 'node', index).replace(root, '/app');
      assert.equal(dirname(inImage), mount, `the volume holds ${inImage} and its staging directory`);
    }
    assert.equal(volumes.size, demo.pods['node']!.count, 'a volume per node');
  });

  it('the image, npm start, the demo and the bench run drplan with the flags of its bin', () => {
    const flags = drplanNodeFlags();
    assert.ok(flags.includes('--max-semi-space-size=2'), `bin/drplan.js keeps V8's young generation small: ${flags.join(' ')}`);
    const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(readFileSync(join(root, 'Dockerfile'), 'utf8'))?.[1] ?? '[]';
    assert.deepEqual(JSON.parse(entrypoint), ['node', ...flags, 'bin/drplan.js']);
    const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    assert.equal(scripts['start'], `node ${flags.join(' ')} bin/drplan.js serve`);
    assert.equal(scripts['demo'], `node ${flags.join(' ')} --import tsx scripts/demo.ts`);
    assert.deepEqual(drplanArgs(['agent']).slice(0, flags.length), flags);
  });

  it('the Dockerfile builds dist/ on Node 24 and runs it through the drplan bin', () => {
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
    const stages = dockerfile.split(/^FROM /m).slice(1);
    assert.equal(stages.length, 2, 'a build stage and a runtime stage');
    for (const stage of stages) assert.match(stage, /^node:24-/);
    assert.match(stages[0] ?? '', /^COPY src \.\/src$/m);
    assert.match(stages[0] ?? '', /^RUN npm run build$/m);
    const runtime = stages[1] ?? '';
    assert.match(runtime, /^RUN npm ci --omit=dev .*&& rm -rf node_modules\/node-linux-\* node_modules\/\.bin\/node /m);
    assert.match(runtime, /^COPY --from=build \/app\/dist \.\/dist$/m);
    assert.match(runtime, /^ENTRYPOINT \["node", "--max-semi-space-size=2", "bin\/drplan\.js"\]/m);
    assert.match(runtime, /^COPY bin /m);
    for (const dir of ['services', 'plans']) assert.doesNotMatch(runtime, new RegExp(`^COPY ${dir} `, 'm'), `${dir}/ is mounted, not baked in`);
    // The build script puts the dashboard beside the compiled code, where it looks for it.
    const build = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts['build'] ?? '';
    assert.match(build, /cpSync\('src\/dashboard\/public', 'dist\/src\/dashboard\/public'/);
  });
});
