-- Version 4: the job engine (BEHAVIOUR §7).
--
-- Coalescing and the per-resource mutex are unique indexes: at most one NEW
-- job per (job_type, resource_id), so a newer request replaces the pending
-- one's payload, and at most one RUNNING job, so a resource is worked on by
-- one worker at a time. FAIL rows are not constrained (they wait for an
-- operator's redo). Both engines support partial indexes.

-- Rows written before this version were never coalesced: keep the newest
-- NEW job of each resource, so the unique index can be built.
DELETE FROM jobs
 WHERE status = 'NEW'
   AND EXISTS (SELECT 1 FROM jobs newer
                WHERE newer.status = 'NEW'
                  AND newer.job_type = jobs.job_type
                  AND newer.resource_id = jobs.resource_id
                  AND (newer.created_at > jobs.created_at
                       OR (newer.created_at = jobs.created_at AND newer.id > jobs.id)));

CREATE UNIQUE INDEX jobs_one_new ON jobs (job_type, resource_id) WHERE status = 'NEW';
CREATE UNIQUE INDEX jobs_one_running ON jobs (job_type, resource_id) WHERE status = 'RUNNING';
-- Takeover of jobs whose worker died: RUNNING rows by lease expiry.
CREATE INDEX jobs_lease ON jobs (status, lease_expires_at);
-- The admin API's filters on the log.
CREATE INDEX job_log_type ON job_log (job_type, id);
