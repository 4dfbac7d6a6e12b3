
# Load.  The storm of 001_crash.pl (see StormCommon) without a crash, for a
# fixed number of transactions: first in READ COMMITTED, then in REPEATABLE
# READ.  Every transaction must complete, the tables must satisfy every
# invariant, and the only errors a caller sees are those SPEC.md promises:
#	READ COMMITTED:  42704 for a key that is gone, also one deleted by a
#					 transaction that committed while we waited for its lock;
#					 23505 for a taken alias
#	REPEATABLE READ: also 40001 for a key that changed after our snapshot,
#					 and so never 42704 for a key our snapshot still saw
# The storm did each kind of change it can (the new ones of 1.1 too: an
# alias taken and one won, rotations with each grace, both bulk changes,
# old secrets in their grace and past it), so the invariants had something
# to check.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use StormCommon;
use Test::More;

my $NSLOTS = 10_000;
my $CLIENTS = 8;
my $PER_CLIENT = 1500;

my $node = PostgreSQL::Test::Cluster->new('load');
$node->init;
# no crash here: commits need not wait for the disk
$node->append_conf(
	'postgresql.conf', q{
synchronous_commit = off
track_commit_timestamp = on
log_statement = none
});
$node->start;

setup_storm($node, $NSLOTS);

my %expected = (
	'read committed' => [qw(23505 42704)],
	'repeatable read' => [qw(23505 40001 42704)],);
my $checked = 0;
my $transactions = 0;

foreach my $isolation ('read committed', 'repeatable read')
{
	$node->safe_psql('postgres', 'TRUNCATE storm.errors, storm.bulk_log');
	my ($audit, $old) = split /\|/,
	  $node->safe_psql(
		'postgres', q{
		SELECT (SELECT coalesce(max(id), 0) FROM keymgmt.audit_log),
			   (SELECT coalesce(max(id), 0) FROM storm.old_secrets)});

	(my $value = $isolation) =~ s/ /\\ /g;
	my $storm = start_storm(
		$node,
		clients => $CLIENTS,
		nslots => $NSLOTS,
		transactions => $PER_CLIENT,
		env => { PGOPTIONS => "-c default_transaction_isolation=$value" });
	my ($rc, $processed, $out) = finish_storm($storm);
	is($rc, 0, "$isolation: pgbench ran to the end");
	is($processed, $CLIENTS * $PER_CLIENT,
		"$isolation: every transaction completed");
	like($out, qr/number of failed transactions: 0 /,
		"$isolation: no transaction failed");
	$transactions += $processed;

	# what the wrappers caught, by SQLSTATE
	my $errors = error_counts($node);
	note "$isolation: caught "
	  . join(', ', map { "$_ x $errors->{$_}" } sort keys %$errors);
	is(join(',', sort keys %$errors),
		join(',', @{ $expected{$isolation} }),
		"$isolation: the SQLSTATEs seen are exactly "
		  . join(', ', @{ $expected{$isolation} }));
	is(messages_leak($node), '0',
		"$isolation: no message shows a raw key or a whole token");
	is( $node->safe_psql(
			'postgres',
			"SELECT count(*) FROM storm.errors WHERE isolation <> '$isolation'"),
		'0',
		"$isolation: the storm ran in $isolation");

	my $raced = $node->safe_psql('postgres',
		"SELECT count(*) FROM storm.errors WHERE sqlstate = '42704' AND seen");
	if ($isolation eq 'read committed')
	{
		# the key was there when the transaction looked, and gone when it
		# got the lock: the race keymgmt exists to close, seen as 42704
		cmp_ok($raced, '>', 0,
			"$isolation: 42704 for keys deleted concurrently ($raced)");
	}
	else
	{
		is($raced, '0',
			"$isolation: never 42704 for a key the snapshot saw (40001 instead)"
		);
	}

	# plausible: the storm changed keys in every way
	my %changes = map { split /\|/ } split /\n/,
	  $node->safe_psql(
		'postgres', qq{
		SELECT action, count(*) FROM keymgmt.audit_log
		 WHERE object_type = 'key' AND id > $audit GROUP BY action});
	note "$isolation: changes "
	  . join(', ', map { "$_ $changes{$_}" } sort keys %changes);
	foreach my $action (qw(created blocked unblocked deleted updated rotated grace_ended))
	{
		cmp_ok($changes{$action} // 0, '>', 0, "$isolation: keys were $action");
	}

	# and in each of the new ways: an alias another key had (23505) or took
	# (a move), rotations with and without grace, both bulk changes, old
	# secrets still in their grace and past it
	my %did = map { split /\|/ } split /\n/,
	  $node->safe_psql(
		'postgres', qq{
		SELECT 'alias taken', count(*) FROM storm.errors
		 WHERE op = 'update' AND sqlstate = '23505'
		UNION ALL
		SELECT 'alias moved', count(*) FROM keymgmt.audit_log
		 WHERE id > $audit AND action = 'updated' AND updated_values ? 'key_alias'
		UNION ALL
		SELECT 'rotated with grace ' || g, count(o.id)
		  FROM unnest('{0, 2 seconds, 10 minutes}'::interval[]) g
		  LEFT JOIN storm.old_secrets o ON o.grace = g AND o.id > $old
		 GROUP BY g
		UNION ALL
		SELECT op || ' changed', coalesce(sum(changed), 0)
		  FROM unnest('{block_keys,unblock_keys}'::text[]) op
		  LEFT JOIN storm.bulk_log USING (op) GROUP BY op
		UNION ALL
		SELECT 'old secrets ' || CASE WHEN v.status = 'not_found' THEN 'ended' ELSE 'in grace' END,
			   count(*)
		  FROM storm.old_secrets o, keymgmt.verify_key(o.raw) v
		 WHERE o.id > $old GROUP BY 1});
	note "$isolation: " . join(', ', map { "$_ $did{$_}" } sort keys %did);
	foreach my $what ('alias taken', 'alias moved', 'rotated with grace 00:00:00',
		'rotated with grace 00:00:02', 'rotated with grace 00:10:00',
		'block_keys changed', 'unblock_keys changed', 'old secrets ended',
		'old secrets in grace')
	{
		cmp_ok($did{$what} // 0, '>', 0, "$isolation: $what");
	}

	$checked += invariants_hold($node, "after $isolation");
	storm_numbers($node, "after $isolation");
}

note "transactions: $transactions; invariant checks: $checked";

$node->stop;
done_testing();
