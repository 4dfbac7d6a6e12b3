-- The calling role: db_role is current_user at the call, and with no actor
-- it is the actor too.  A SECURITY DEFINER wrapper calls as its owner, a
-- trigger as the role whose statement fired it, and an index expression
-- that ANALYZE evaluates as the table's owner -- never as the superuser
-- whose session runs the ANALYZE, and never with that session's
-- keymgmt.actor or keymgmt.require_actor.
CREATE EXTENSION keymgmt;
-- ops, the superuser's actor, is a global admin
INSERT INTO keymgmt.admins (user_id) VALUES ('ops');
\set VERBOSITY sqlstate

INSERT INTO keymgmt.keys (token, key_name, created_at, updated_at)
SELECT encode(sha256(convert_to('sk-test-caller-' || n, 'UTF8')), 'hex'),
       'sk-...er-' || n, now(), now()
FROM generate_series(1, 4) n;
CREATE FUNCTION pg_temp.tok(n int) RETURNS text LANGUAGE sql AS
$$SELECT encode(sha256(convert_to('sk-test-caller-' || n, 'UTF8')), 'hex')$$;
-- the last audit row of key n (the superuser running the tests is named
-- for what it is, whatever it is called)
CREATE FUNCTION pg_temp.last_change(n int)
RETURNS TABLE (action text, changed_by text, db_role text)
LANGUAGE sql AS $$
	SELECT a.action, a.changed_by,
	       CASE a.db_role WHEN session_user THEN '(session user)' ELSE a.db_role END
	FROM keymgmt.audit_log a
	WHERE a.object_id = pg_temp.tok(n) ORDER BY a.id DESC LIMIT 1
$$;

CREATE ROLE keymgmt_test_caller;
CREATE ROLE keymgmt_test_wrapper;
CREATE ROLE keymgmt_test_attacker;
GRANT EXECUTE ON FUNCTION keymgmt.block_key(text, text),
                          keymgmt.unblock_key(text, text)
  TO keymgmt_test_caller, keymgmt_test_wrapper, keymgmt_test_attacker;
GRANT CREATE ON SCHEMA public TO keymgmt_test_wrapper, keymgmt_test_attacker;

--
-- a plain call: db_role = current_user, SET ROLE included; no actor means
-- the calling role acts
--
SET ROLE keymgmt_test_caller;
SELECT blocked, updated_by FROM keymgmt.block_key('sk-test-caller-1');
RESET ROLE;
SELECT * FROM pg_temp.last_change(1);

--
-- a SECURITY DEFINER wrapper: the call is made by the wrapper's owner
--
SET ROLE keymgmt_test_wrapper;
CREATE FUNCTION public.keymgmt_test_unblock(k text) RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS
$$SELECT blocked FROM keymgmt.unblock_key(k)$$;
GRANT EXECUTE ON FUNCTION public.keymgmt_test_unblock(text) TO keymgmt_test_caller;
RESET ROLE;
SET ROLE keymgmt_test_caller;
SELECT public.keymgmt_test_unblock('sk-test-caller-1') AS blocked;
RESET ROLE;
SELECT * FROM pg_temp.last_change(1);
-- a superuser calling it is audited the same way: the wrapper's owner called
SELECT keymgmt.block_key('sk-test-caller-1', actor => 'ops') IS NOT NULL AS reblocked;
SELECT public.keymgmt_test_unblock('sk-test-caller-1') AS blocked;
SELECT * FROM pg_temp.last_change(1);

--
-- a trigger: the role whose statement fired it calls
--
SET ROLE keymgmt_test_wrapper;
CREATE TABLE public.keymgmt_test_requests (k text);
CREATE FUNCTION public.keymgmt_test_block_on_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM keymgmt.block_key(NEW.k);
	RETURN NEW;
END $$;
CREATE TRIGGER block_on_insert AFTER INSERT ON public.keymgmt_test_requests
FOR EACH ROW EXECUTE FUNCTION public.keymgmt_test_block_on_insert();
GRANT INSERT ON public.keymgmt_test_requests TO keymgmt_test_caller;
RESET ROLE;
SET ROLE keymgmt_test_caller;
INSERT INTO public.keymgmt_test_requests VALUES ('sk-test-caller-2');
RESET ROLE;
SELECT * FROM pg_temp.last_change(2);

--
-- an index expression: ANALYZE evaluates it as the table's owner, in a
-- security-restricted operation.  The attacker's "immutable" SECURITY
-- DEFINER helper blocks key 3; the superuser's session names an actor and
-- requires one, and neither may lend itself to the attacker's code.
--
SET ROLE keymgmt_test_attacker;
CREATE FUNCTION public.keymgmt_test_evil(k text) RETURNS boolean
LANGUAGE sql IMMUTABLE SECURITY DEFINER SET search_path = pg_catalog AS
$$SELECT blocked FROM keymgmt.block_key(k)$$;
CREATE TABLE public.keymgmt_test_trap (k text);
INSERT INTO public.keymgmt_test_trap VALUES ('sk-test-caller-3');
-- creating the index evaluates it once, as the attacker itself
CREATE INDEX keymgmt_test_trap_idx ON public.keymgmt_test_trap (public.keymgmt_test_evil(k));
RESET ROLE;
SELECT * FROM pg_temp.last_change(3);
-- the superuser unblocks the key again, then analyzes the attacker's table
SELECT blocked FROM keymgmt.unblock_key('sk-test-caller-3', actor => 'ops');
SET keymgmt.actor = 'root-admin';
SET keymgmt.require_actor = on;
ANALYZE public.keymgmt_test_trap;
RESET keymgmt.actor;
RESET keymgmt.require_actor;
-- blocked again, by the attacker's role, not by the superuser or root-admin
SELECT blocked FROM keymgmt.keys WHERE token = pg_temp.tok(3);
SELECT * FROM pg_temp.last_change(3);

-- the same without the SECURITY DEFINER helper: the table owner calls
SET ROLE keymgmt_test_attacker;
CREATE FUNCTION public.keymgmt_test_plain(k text) RETURNS boolean
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS
$$SELECT blocked FROM keymgmt.block_key(k)$$;
CREATE TABLE public.keymgmt_test_trap2 (k text);
INSERT INTO public.keymgmt_test_trap2 VALUES ('sk-test-caller-4');
CREATE INDEX keymgmt_test_trap2_idx ON public.keymgmt_test_trap2 (public.keymgmt_test_plain(k));
RESET ROLE;
SELECT blocked FROM keymgmt.unblock_key('sk-test-caller-4', actor => 'ops');
SET keymgmt.actor = 'root-admin';
ANALYZE public.keymgmt_test_trap2;
RESET keymgmt.actor;
SELECT * FROM pg_temp.last_change(4);

-- a role listed by set_actor_required must name an actor even there: the
-- index expression fails, and with it the ANALYZE
SELECT keymgmt.set_actor_required('keymgmt_test_attacker');
SELECT blocked FROM keymgmt.unblock_key('sk-test-caller-3', actor => 'ops');
ANALYZE public.keymgmt_test_trap;
SELECT blocked FROM keymgmt.keys WHERE token = pg_temp.tok(3);
SELECT * FROM pg_temp.last_change(3);

-- every audit row of this story: nobody was audited as the superuser
-- without saying so
SELECT count(*) FILTER (WHERE db_role = session_user AND changed_by <> 'ops') AS superuser_unnamed,
       count(*) AS audit_rows
FROM keymgmt.audit_log WHERE object_type = 'key';

DROP TABLE public.keymgmt_test_trap, public.keymgmt_test_trap2, public.keymgmt_test_requests;
DROP FUNCTION public.keymgmt_test_evil(text), public.keymgmt_test_plain(text),
              public.keymgmt_test_unblock(text), public.keymgmt_test_block_on_insert();
DROP EXTENSION keymgmt;
DROP SCHEMA keymgmt;
REVOKE CREATE ON SCHEMA public FROM keymgmt_test_wrapper, keymgmt_test_attacker;
DROP ROLE keymgmt_test_caller, keymgmt_test_wrapper, keymgmt_test_attacker;
