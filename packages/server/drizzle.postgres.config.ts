import { defineConfig } from 'drizzle-kit'

export default defineConfig({
  dialect: 'postgresql',
  schema: './src/keys/postgres-schema.ts',
  out: './drizzle/postgres',
})
