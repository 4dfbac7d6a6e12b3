-- What examples/gateway/gateway.py needs, for the role its --dsn names:
--
--   psql -d app -v role=gateway -f examples/gateway/grants.sql
--
-- EXECUTE on the functions its routes call, and SELECT on key_status (key
-- aliases for /key/delete, total_count for /key/list).  Nothing on the
-- tables: every change goes through a function that locks and audits.
-- Do not list this role with keymgmt.set_actor_required: the master key's
-- calls name no actor (the database role decides).
GRANT USAGE ON SCHEMA keymgmt TO :"role";
GRANT EXECUTE ON FUNCTION
    keymgmt.verify_key(text),
    keymgmt.current_cursor(),
    keymgmt.changes(text, integer),
    keymgmt.generate_key(text, text, text, text, timestamptz, jsonb, text),
    keymgmt.import_key(text, text, text, text, text, text, boolean, timestamptz, jsonb, text),
    keymgmt.block_key(text, text),
    keymgmt.unblock_key(text, text),
    keymgmt.delete_key(text, text),
    keymgmt.key_info(text),
    keymgmt.update_key(text, jsonb, text),
    keymgmt.rotate_key(text, interval, text),
    keymgmt.list_keys(text, text, text, text, uuid, integer, text)
  TO :"role";
GRANT SELECT ON keymgmt.key_status TO :"role";
