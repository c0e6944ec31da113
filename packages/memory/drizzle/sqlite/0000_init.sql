CREATE TABLE `history` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`tenant_id` text NOT NULL,
	`memory_id` text NOT NULL,
	`event` text NOT NULL,
	`previous_text` text,
	`new_text` text,
	`metadata` text,
	`actor` text,
	`purged` integer DEFAULT false NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `history_memory_idx` ON `history` (`tenant_id`,`memory_id`,`id`);--> statement-breakpoint
CREATE TABLE `journal` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`change` text NOT NULL,
	`vectors` blob NOT NULL,
	`dimensions` integer NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `manifest` (
	`id` integer PRIMARY KEY NOT NULL,
	`schema_version` integer NOT NULL,
	`embedding_model` text NOT NULL,
	`dimensions` integer NOT NULL,
	`vector_table` text NOT NULL,
	`updated_at` integer NOT NULL
);
