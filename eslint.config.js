// @ts-check
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/**
 * Module boundaries (DESIGN.md section 7): imports point down only, other modules are reached
 * through their index.ts, and each SDK stays inside the one module that owns it.
 */
const MAY_IMPORT = {
  shared: [],
  engine: ['shared'],
  archive: ['shared'],
  storage: ['shared'],
  repository: ['storage', 'archive', 'shared'],
  config: ['engine', 'shared'],
  jobs: ['engine', 'shared'],
  tasks: ['engine', 'repository', 'archive', 'storage', 'shared'],
  runs: ['engine', 'jobs', 'shared'],
  workers: ['runs', 'jobs', 'tasks', 'engine', 'shared'],
  dashboard: [],
  api: ['dashboard', 'runs', 'engine', 'shared'],
  main: ['api', 'workers', 'runs', 'jobs', 'tasks', 'config', 'engine', 'repository', 'storage', 'archive', 'shared'],
};
const MODULES = Object.keys(MAY_IMPORT);

/** Packages only one module may import. */
const OWNED = [
  { group: ['@aws-sdk/*', '@azure/*'], owners: ['storage'], why: 'cloud SDKs stay in storage/' },
  { group: ['tar'], owners: ['archive'], why: 'tar stays in archive/' },
  { group: ['bullmq'], owners: ['jobs', 'workers'], why: 'BullMQ stays in jobs/ and workers/' },
  { group: ['fastify', '@fastify/*'], owners: ['api'], why: 'Fastify stays in api/' },
];

/** @param {string} module */
function boundaryRule(module) {
  const allowed = MAY_IMPORT[/** @type {keyof typeof MAY_IMPORT} */ (module)];
  const forbidden = MODULES.filter((m) => m !== module && !allowed.includes(m));
  const others = MODULES.filter((m) => m !== module);
  const patterns = [
    ...(forbidden.length === 0
      ? []
      : [{ regex: `^(\\.\\./)+(${forbidden.join('|')})(/|$)`, message: `${module}/ may import only: ${allowed.join(', ') || 'nothing'} (imports point down)` }]),
    { regex: `^(\\.\\./)+(${others.join('|')})/(?!index\\.js$)`, message: 'import another module through its index.js' },
    ...OWNED.filter((o) => !o.owners.includes(module)).map((o) => ({ group: o.group, message: o.why })),
  ];
  if (module === 'engine') patterns.push({ regex: '^node:', message: 'engine/ is pure: no I/O' });
  return { files: [`src/${module}/**/*.ts`], rules: { 'no-restricted-imports': ['error', { patterns }] } };
}

export default tseslint.config(
  { ignores: ['node_modules/', 'var/', 'dist/', 'test-artifacts/', 'src/dashboard/vendor/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      eqeqeq: ['error', 'always'],
      'no-console': 'error',
    },
  },
  ...MODULES.map(boundaryRule),
  {
    files: ['src/**/*.ts'],
    ignores: ['src/main/**', 'src/config/**'],
    rules: {
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'only main/ and config/ read the environment' }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite', 'before', 'after'] }] },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, globals: globals.node },
  },
  {
    // The dashboard's browser modules: browser globals, and never HTML from strings.
    files: ['src/dashboard/public/**/*.js'],
    languageOptions: { globals: globals.browser, sourceType: 'module' },
    rules: {
      'no-restricted-properties': [
        'error',
        ...['innerHTML', 'outerHTML'].map((property) => ({ property, message: 'build nodes with h(): API text is never parsed as HTML' })),
        { property: 'insertAdjacentHTML', message: 'build nodes with h(): API text is never parsed as HTML' },
      ],
      'no-restricted-syntax': ['error', { selector: "CallExpression[callee.property.name='write'][callee.object.name='document']", message: 'no document.write' }],
    },
  },
);
