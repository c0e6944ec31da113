/** @module @agentmem/server: the AgentMem HTTP API (native and Mem0-compatible), API keys per tenant. */
export { configFileEnv, envName, isLoopback, loadConfig, type ServerConfig, type ServerConfigInput, serverConfigSchema } from './config.js'
export { type ErrorCode, isCodedError, ServerError, ServerErrorCode, statusByCode } from './errors.js'
export { type App, createApp } from './http/app.js'
export type { AppDeps } from './http/context.js'
export { type ApiKeyInfo, type KeyRole, KeyStore, openKeyStore, openRateLimiter, type Principal } from './keys/key-store.js'
export { createLogger, packageLogger } from './logger.js'
export { dataPaths, type RunningServer, startServer } from './serve.js'
