-- Quota reservations expire. A reservation (an allocation row whose top_id
-- is still NULL) counts towards usage until expires_at; a gateway that dies
-- between reserving and recording what the pod made leaves a row that stops
-- counting at its expiry and is swept afterwards. Completed rows have no
-- expiry. Rows reserved before this migration (NULL expiry, NULL top_id)
-- are leaked reservations and count no more.
ALTER TABLE allocations ADD COLUMN expires_at VARCHAR(32);
CREATE INDEX allocations_reservations ON allocations (expires_at) WHERE top_id IS NULL;
