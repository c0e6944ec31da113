CREATE TABLE `wal_reserve` (
	`id` integer PRIMARY KEY NOT NULL,
	`pad` blob NOT NULL
);
