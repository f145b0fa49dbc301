-- filled in by the work on issue 4
SELECT 1;
