ALTER TABLE `history` ADD `user_id` text;--> statement-breakpoint
ALTER TABLE `history` ADD `agent_id` text;--> statement-breakpoint
ALTER TABLE `history` ADD `run_id` text;