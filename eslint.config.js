// ESLint (flat config): typescript-eslint's recommended rules and a 160-character line limit on
// src, test and bench. Prettier (.prettierrc.json, `npm run format`) wraps code at 160; the limit
// exempts lines whose length is a string, template or regular expression (prettier never splits
// those, and splitting an error message across `+` makes it harder to grep for).
// `npm run lint` runs the type checks, this, and prettier --check.
//
// Off: no-explicit-any. kha's task lists are heterogeneous (Task<any>[]: each task has its own
// params type, checked where the task is written); the rest of the code uses unknown.
import js from '@eslint/js';
import stylistic from '@stylistic/eslint-plugin';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'dist-bench/**', 'node_modules/**', 'bench/results/**', '.kha/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { '@stylistic': stylistic },
    rules: {
      '@stylistic/max-len': ['error', { code: 160, ignoreUrls: true, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true }],
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
);
