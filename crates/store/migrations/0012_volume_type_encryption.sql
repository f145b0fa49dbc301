-- Cinder's volume type encryption (provider, control_location, cipher,
-- key_size, encryption_id), kept with its type as a JSON object and copied
-- into the pods with the type. NULL: the type is not encrypted.
ALTER TABLE volume_types ADD COLUMN encryption TEXT;
