// The layering kha keeps (STYLE.md): commands -> actions -> roles/engine/modules -> transport.
// Checked by `npm run depcheck`, which `npm test` (and so CI) runs before the tests.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'no import cycles, type-only imports included', from: {}, to: { circular: true } },
    { name: 'no-upward-from-actions', severity: 'error', comment: 'actions never import the CLI', from: { path: '^src/actions/' }, to: { path: '^src/(commands|cli)/' } },
    { name: 'no-upward-from-roles', severity: 'error', comment: 'roles render and list tasks; they never reach up into actions or the CLI', from: { path: '^src/roles/' }, to: { path: '^src/(actions|commands|cli)/' } },
    { name: 'no-upward-from-modules', severity: 'error', comment: 'modules know the engine contract, not the verbs', from: { path: '^src/modules/' }, to: { path: '^src/(actions|commands|cli|roles)/' } },
    { name: 'no-upward-from-engine', severity: 'error', comment: 'the engine runs plays; it knows no verb, role or module', from: { path: '^src/engine/' }, to: { path: '^src/(actions|commands|cli|roles|modules)/' } },
    { name: 'transport-is-a-leaf', severity: 'error', comment: 'the transport knows nothing above it', from: { path: '^src/transport/' }, to: { path: '^src/(actions|commands|cli|roles|modules|engine|inventory|facts|playbook|lab)/' } },
  ],
  options: {
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
