import { defineConfig } from 'drizzle-kit'

// `pnpm db:generate` writes SQLite migrations; `pnpm db:generate:postgres` the PostgreSQL ones.
export default defineConfig({
  dialect: 'sqlite',
  schema: './src/keys/sqlite-schema.ts',
  out: './drizzle/sqlite',
})
