import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** The rooms of src/, lowest first: each may import only the rooms before it. */
const ROOMS = ['core', 'data', 'models', 'env', 'agents', 'tasks', 'cli'];

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
  // Layering (docs/architecture.md, "Rooms and what each may import"): a room imports only rooms below it.
  ...ROOMS.slice(0, -1).map((room, i) => ({
    files: [`src/${room}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: `^(\\.\\./)+(${ROOMS.slice(i + 1).join('|')})/`,
              message: `${room} may import only ${ROOMS.slice(0, i).join(', ') || 'nothing of dbmim'} (imports point down: ${[...ROOMS].reverse().join(' -> ')})`,
            },
          ],
        },
      ],
    },
  })),
);
