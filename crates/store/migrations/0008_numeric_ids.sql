-- Integer ids the top gives to things of a pod that Nova numbers per cell
-- (hypervisors and services before microversion 2.53): one row per
-- (pod, kind, the pod's own id), its `id` the number users see, unique
-- across pods and stable for as long as the pod is registered.
CREATE TABLE numeric_ids (
    id         @ID_PK@,
    pod_id     VARCHAR(36)  NOT NULL REFERENCES pods (pod_id) ON DELETE CASCADE,
    kind       VARCHAR(32)  NOT NULL,
    bottom_id  VARCHAR(64)  NOT NULL,
    created_at VARCHAR(32)  NOT NULL
);
CREATE UNIQUE INDEX numeric_ids_pod_kind_bottom ON numeric_ids (pod_id, kind, bottom_id);
