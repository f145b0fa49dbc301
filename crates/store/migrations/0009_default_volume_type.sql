-- Cinder's default volume type, `__DEFAULT__`, which every pod's Cinder
-- has and gives to volumes created without a type: the top lists it too
-- (unless a type of that name was made by hand before).
INSERT INTO volume_types (id, name, description, is_public, created_at, updated_at)
SELECT 'f3a6cb5c-0f35-4c51-9a4d-6d2a4bb1e9f0', '__DEFAULT__', 'Default Volume Type', 1,
       '2026-12-07T00:00:00Z', '2026-12-07T00:00:00Z'
WHERE NOT EXISTS (SELECT 1 FROM volume_types WHERE name = '__DEFAULT__');
