import { defineConfig } from 'drizzle-kit'

export default defineConfig({
  dialect: 'sqlite',
  schema: './src/keys/schema.ts',
  out: './drizzle',
})
