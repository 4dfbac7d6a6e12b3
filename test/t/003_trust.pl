
# Trust boundaries that need a server of their own: a client's startup
# options, keymgmt in shared_preload_libraries or not, and autovacuum.
#
#  1. keymgmt.require_actor set for a role (ALTER ROLE ... SET) is a session
#	  setting: without preloading, a client's startup option
#	  (PGOPTIONS='-c keymgmt.require_actor=on', even =on) leaves it off once
#	  the library loads.  set_actor_required closes that: with the role
#	  listed, no startup option makes a change without an actor succeed,
#	  with or without preloading.
#  2. autovacuum's ANALYZE evaluates an index expression that calls
#	  block_key: the change is audited as the table's owner (through its
#	  SECURITY DEFINER helper), never as the superuser autovacuum runs as,
#	  and the cluster's keymgmt.actor and keymgmt.require_actor do not apply
#	  to it.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('trust');
$node->init;
$node->append_conf('postgresql.conf', "autovacuum_naptime = 1\n");
$node->start;

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION keymgmt;
INSERT INTO keymgmt.admins (user_id) VALUES ('ops');
CREATE ROLE gateway LOGIN;
CREATE ROLE attacker LOGIN;
GRANT EXECUTE ON FUNCTION keymgmt.block_key(text, text), keymgmt.unblock_key(text, text)
  TO gateway, attacker;
GRANT CREATE ON SCHEMA public TO attacker;
ALTER ROLE gateway SET keymgmt.require_actor = on;
INSERT INTO keymgmt.keys (token, key_name, created_at, updated_at)
SELECT encode(sha256(convert_to(k, 'UTF8')), 'hex'), 'sk-...' || right(k, 4), now(), now()
FROM (VALUES ('sk-trust-gateway'), ('sk-trust-autovacuum')) v(k);
});

# A block of sk-trust-gateway as the gateway role with these startup
# options: 'ok', the SQLSTATE of the error, or 'no connection: ...'.
# The key is unblocked again afterwards.
sub gateway_block
{
	my ($options) = @_;
	local $ENV{PGOPTIONS} = $options;
	my ($out, $err) = ('', '');
	my $rc = $node->psql(
		'postgres',
		"\\set VERBOSITY sqlstate\nSELECT blocked FROM keymgmt.block_key('sk-trust-gateway')",
		stdout => \$out,
		stderr => \$err,
		extra_params => [ '-U', 'gateway' ]);
	$node->safe_psql('postgres',
		"SELECT keymgmt.unblock_key('sk-trust-gateway', actor => 'ops')");
	return 'ok' if $rc == 0 && $out eq 't';
	return $1 if $err =~ /ERROR:\s+([0-9A-Z]{5})/;
	return 'no connection: ' . ($err =~ /FATAL:\s+(.*)/ ? $1 : $err);
}

# --- 1. not preloaded -------------------------------------------------------
is(gateway_block(''), '42501',
	'not preloaded: the role setting require_actor = on refuses a change without an actor');
is(gateway_block('-c keymgmt.require_actor=on'), 'ok',
	'not preloaded: a startup option, even =on, voids the role setting (PostgreSQL discards a non-superuser placeholder)'
);
is(gateway_block('-c keymgmt.require_actor=off'), 'ok',
	'not preloaded: and so does =off');

is($node->safe_psql('postgres', "SELECT keymgmt.set_actor_required('gateway')"),
	't', 'set_actor_required lists the gateway role');
foreach my $options ('', '-c keymgmt.require_actor=on',
	'-c keymgmt.require_actor=off', '-c keymgmt.actor=')
{
	is(gateway_block($options), '42501',
		"not preloaded, role listed: startup options '$options' cannot avoid naming an actor");
}

# --- 2. autovacuum evaluates an index expression ------------------------------
# The cluster names an actor and requires one, for every session
# autovacuum's included: neither may be lent to the table owner's code.
$node->safe_psql(
	'postgres', q{
LOAD 'keymgmt';
ALTER SYSTEM SET keymgmt.actor = 'cluster-actor';
ALTER SYSTEM SET keymgmt.require_actor = on;
SELECT pg_reload_conf();
});
$node->safe_psql(
	'postgres', q{
CREATE FUNCTION public.evil(k text) RETURNS boolean
LANGUAGE sql IMMUTABLE SECURITY DEFINER SET search_path = pg_catalog AS
$$SELECT blocked FROM keymgmt.block_key(k)$$;
CREATE TABLE public.trap (k text) WITH (autovacuum_enabled = false,
	autovacuum_analyze_threshold = 0, autovacuum_analyze_scale_factor = 0);
INSERT INTO public.trap SELECT 'sk-trust-autovacuum' FROM generate_series(1, 100);
CREATE INDEX trap_idx ON public.trap (public.evil(k));
}, extra_params => [ '-U', 'attacker' ]);
# creating the index ran it as the attacker; the superuser unblocks, then
# the attacker lets autovacuum at its table
my $unblocked = $node->safe_psql(
	'postgres', q{
SELECT blocked FROM keymgmt.unblock_key('sk-trust-autovacuum', actor => 'ops');
SELECT max(id) FROM keymgmt.audit_log;
});
($unblocked) = (split /\n/, $unblocked)[1];
$node->safe_psql('postgres', 'ALTER TABLE public.trap SET (autovacuum_enabled = true)',
	extra_params => [ '-U', 'attacker' ]);

my $token = $node->safe_psql('postgres',
	"SELECT encode(sha256('sk-trust-autovacuum'::bytea), 'hex')");
ok( $node->poll_query_until(
		'postgres', qq{
SELECT count(*) > 0 FROM keymgmt.audit_log
WHERE object_id = '$token' AND action = 'blocked' AND id > $unblocked}),
	'autovacuum analyzed the table and the index expression blocked the key');
is( $node->safe_psql(
		'postgres', qq{
SELECT changed_by || ' ' || db_role FROM keymgmt.audit_log
WHERE object_id = '$token' AND id > $unblocked ORDER BY id}),
	'attacker attacker',
	'the change is audited as the table owner\'s (changed_by and db_role), not the superuser\'s nor cluster-actor\'s'
);
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM pg_stat_user_tables WHERE relname = 'trap' AND autoanalyze_count > 0"),
	'1',
	'it was autovacuum that analyzed');

$node->safe_psql(
	'postgres', q{
LOAD 'keymgmt';
ALTER SYSTEM RESET keymgmt.actor;
ALTER SYSTEM RESET keymgmt.require_actor;
SELECT pg_reload_conf();
});

# --- 3. preloaded ---------------------------------------------------------------
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'keymgmt'\n");
$node->restart;
like(gateway_block('-c keymgmt.require_actor=off'), qr/^no connection: .*permission denied/,
	'preloaded: a non-superuser cannot give keymgmt.require_actor as a startup option');
is(gateway_block(''), '42501', 'preloaded, role listed: no actor is 42501');
is($node->safe_psql('postgres', "SELECT keymgmt.set_actor_required('gateway', false)"),
	't', 'the gateway role is no longer listed');
is(gateway_block(''), '42501',
	'preloaded: the role setting require_actor = on holds on its own');
is($node->safe_psql('postgres', "ALTER ROLE gateway RESET keymgmt.require_actor; SELECT 1"),
	'1', 'the role setting is removed');
is(gateway_block(''), 'ok', 'preloaded, nothing required: the database role decides');

$node->stop;
done_testing();
