import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.e2e/**', 'test-output/**', '**/*.mjs', '**/*.cjs', '**/*.js'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{ from: 'package', name: ['test', 'it', 'describe', 'suite'], package: 'node:test' }],
      }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always'],
      curly: ['error', 'multi-line'],
    },
  },
  {
    // The architecture's boundaries: the host, the contracts (protocol, run folders, methods,
    // config) never import an engine — they reach it through a process and its files.
    // The CLI is a client of an engine process too (src/cli/engineClient.ts).
    files: ['src/host/**/*.ts', 'src/extension.ts', 'src/protocol/**/*.ts', 'src/runs/**/*.ts', 'src/methods/**/*.ts', 'src/config/**/*.ts', 'src/cli/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '^(\\.\\./)+engine(/|$)', message: 'only an engine process imports src/engine: use the protocol (src/protocol), the run-folder contract (src/runs) or the method catalogue (src/methods)' }] }],
    },
  },
  {
    // Webview apps are browser code: they import the protocol and the method catalogue, nothing else of src/.
    files: ['webview/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '^(\\.\\./)+src/(?!protocol/|methods/)', message: 'webviews import only src/protocol and src/methods (the host validates and answers everything else)' }] }],
    },
  },
);
