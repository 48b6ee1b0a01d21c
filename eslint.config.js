import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'out/**', 'coverage/**', '.venv/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { console: 'readonly', process: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['src/env/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['../agents/*', '../tasks/*', '../cli/*'] }],
    },
  },
  {
    files: ['src/models/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['../env/*', '../agents/*', '../tasks/*', '../cli/*'] }],
    },
  },
  {
    files: ['src/data/**/*.ts', 'src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: ['../models/*', '../env/*', '../agents/*', '../tasks/*', '../cli/*'] },
      ],
    },
  },
);
