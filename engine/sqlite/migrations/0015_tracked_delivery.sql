-- Deliveries a channel accepts now and completes later (issue 21): a WeCom
-- message is a task its guide must confirm, so the job records the
-- channel's receipt (the task's msgid) and moves on from task_created to
-- sent, not_friend, skipped_received_other or unsent as the send result
-- says. Jobs of one batch key (identical messages on one channel) are
-- delivered together: one task for many customers.

-- receipt: the channel's reference for a delivery it tracks ('' for none).
-- batch: jobs with the same non-empty batch key may go out in one call.
-- tracked_at: when the channel accepted it (task_created), in ms.
-- reminders / reminded_at: reminders sent to whoever must act (the guide).
-- cancel: why a tracked delivery must be stopped ('' while it need not).
-- sent_at: when a tracked delivery reached the customer, in ms.
ALTER TABLE jobs ADD COLUMN receipt TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN batch TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN tracked_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN reminders INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN reminded_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN cancel TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN sent_at INTEGER NOT NULL DEFAULT 0;
-- The rest of a batch, when the dispatcher claims one of its jobs.
CREATE INDEX jobs_batch ON jobs (batch, run_at) WHERE state = 'pending' AND batch != '';
-- What the tracker polls.
CREATE INDEX jobs_tracked ON jobs (channel, tracked_at) WHERE state = 'task_created';

-- The contact history learns what became of each message, so that a
-- report counts the messages that reached the customer (delivered, or sent
-- by the guide) long after the jobs are purged. job_key is the message's
-- job; state is that job's state (pending until the dispatcher records an
-- outcome; '' for messages recorded before this migration: unknown).
ALTER TABLE contacts ADD COLUMN job_key TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN state TEXT NOT NULL DEFAULT '';
CREATE INDEX contacts_job ON contacts (job_key) WHERE job_key != '';
