CREATE TABLE "cluster" (
	"id" integer PRIMARY KEY NOT NULL,
	"epoch" bigint NOT NULL,
	"leader_address" text,
	"secret" text NOT NULL,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "history" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"memory_id" text NOT NULL,
	"user_id" text,
	"agent_id" text,
	"run_id" text,
	"event" text NOT NULL,
	"previous_text" text,
	"new_text" text,
	"metadata" jsonb,
	"actor" text,
	"purged" boolean DEFAULT false NOT NULL,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "inference_jobs" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"status" text NOT NULL,
	"input" jsonb NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" bigint NOT NULL,
	"raw_memory_ids" jsonb,
	"result" jsonb,
	"last_error" jsonb,
	"created_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "journal" (
	"seq" bigserial PRIMARY KEY NOT NULL,
	"change" text NOT NULL,
	"vectors" "bytea" NOT NULL,
	"dimensions" integer NOT NULL,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "manifest" (
	"id" integer PRIMARY KEY NOT NULL,
	"schema_version" integer NOT NULL,
	"embedding_model" text NOT NULL,
	"dimensions" integer NOT NULL,
	"vector_table" text NOT NULL,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE INDEX "history_memory_idx" ON "history" USING btree ("tenant_id","memory_id","id");--> statement-breakpoint
CREATE INDEX "inference_jobs_due_idx" ON "inference_jobs" USING btree ("status","next_attempt_at");