/*-------------------------------------------------------------------------
 *
 * verify.c
 *	  verify_key: the read-only check a gateway runs on every request.
 *
 * Always exactly one row.  Only a raw key is a credential: a token given
 * here is "malformed" and is never looked up, so a leaked hash cannot be
 * used to authenticate.  Nothing is written and nothing is locked.
 *
 * This is the hot path, so it reads the key through the primary key index
 * directly instead of running a query through SPI: one index probe in the
 * caller's snapshot, no executor start-up.  There is no query text here for
 * a search_path to influence, so verify_key is not SECURITY DEFINER with a
 * SET search_path (whose GUC save and restore cost about a tenth of a
 * call): the probe runs as the table's owner through SetUserIdAndSecContext
 * instead, as every keymgmt function does (caller.c), but without noting a
 * calling role: verify_key writes no audit row.
 *
 *-------------------------------------------------------------------------
 */
#include "keymgmt.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_index.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(verify_key);

/* output columns of verify_key (1.0's definition has the first eight) */
enum
{
	V_VALID, V_STATUS, V_TOKEN, V_USER_ID, V_TEAM_ID, V_ORGANIZATION_ID,
	V_EXPIRES, V_METADATA, V_KEY_ID, V_GRACE_UNTIL, V_NCOLUMNS
};

/* the columns of keymgmt.keys that verify_key reads, by output column */
static const char *const key_columns[V_NCOLUMNS] = {
	[V_USER_ID] = "user_id",
	[V_TEAM_ID] = "team_id",
	[V_ORGANIZATION_ID] = "organization_id",
	[V_EXPIRES] = "expires",
	[V_METADATA] = "metadata",
	[V_KEY_ID] = "key_id",
};

/*
 * The attribute numbers verify_key reads, and the index on key_id, kept
 * across calls beside the OID of the keymgmt.keys they were looked up for
 * (caller.c's KeptRelation forgets it on any invalidation of the table).
 * A 1.0 table has no key_id: its attribute number is then invalid.
 */
static Oid	attnums_relid = InvalidOid;
static AttrNumber attnum_blocked;
static AttrNumber attnums[V_NCOLUMNS];
static Oid	key_id_index = InvalidOid;

/* keymgmt.previous_tokens (1.1), its columns key_id and valid_until */
static Oid	previous_relid = InvalidOid;
static AttrNumber previous_key_id;
static AttrNumber previous_valid_until;

/*
 * KeyIdIndex
 *	  The unique index on keys.key_id alone, among rel's indexes.
 */
static Oid
KeyIdIndex(Relation rel)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			found = InvalidOid;

	foreach(lc, indexes)
	{
		HeapTuple	tuple = SearchSysCache1(INDEXRELID,
											ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index index;

		if (!HeapTupleIsValid(tuple))
			continue;
		index = (Form_pg_index) GETSTRUCT(tuple);
		if (index->indisunique && index->indnatts == 1 &&
			index->indkey.values[0] == attnums[V_KEY_ID] &&
			heap_attisnull(tuple, Anum_pg_index_indpred, NULL))
			found = index->indexrelid;
		ReleaseSysCache(tuple);
	}
	list_free(indexes);
	return found;
}

/*
 * KeysTable
 *	  keymgmt.keys' OID, with the attribute numbers looked up.
 */
static Oid
KeysTable(void)
{
	bool		fresh;
	Oid			relid = KeptRelation(&attnums_relid, "keys", false, &fresh);
	int			i;

	if (!fresh)
		return relid;
	attnum_blocked = get_attnum(relid, "blocked");
	for (i = 0; i < V_NCOLUMNS; i++)
		attnums[i] = key_columns[i] ? get_attnum(relid, key_columns[i])
			: InvalidAttrNumber;
	key_id_index = InvalidOid;
	return relid;
}

/*
 * PreviousTable
 *	  keymgmt.previous_tokens' OID, or InvalidOid on a 1.0 schema.
 */
static Oid
PreviousTable(void)
{
	bool		fresh;
	Oid			relid = KeptRelation(&previous_relid, "previous_tokens", true,
									 &fresh);

	if (fresh)
	{
		previous_key_id = get_attnum(relid, "key_id");
		previous_valid_until = get_attnum(relid, "valid_until");
	}
	return relid;
}

/*
 * Probe
 *	  Begin a scan of rel through indexoid for the one row whose first index
 *	  column equals value (eq), in the active snapshot.  The caller reads
 *	  the slot if this returns true, then calls EndProbe.
 */
typedef struct ProbeState
{
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *slot;
} ProbeState;

static bool
Probe(Relation rel, Oid indexoid, RegProcedure eq, Datum value,
	  ProbeState *state)
{
	ScanKeyData key;

	state->index = index_open(indexoid, AccessShareLock);
	state->slot = table_slot_create(rel, NULL);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, eq, value);
	key.sk_collation = state->index->rd_indcollation[0];
	state->scan = KmIndexBeginScan(rel, state->index, GetActiveSnapshot(), 1, 0);
	index_rescan(state->scan, &key, 1, NULL, 0);
	if (!index_getnext_slot(state->scan, ForwardScanDirection, state->slot))
		return false;
	slot_getallattrs(state->slot);
	return true;
}

static void
EndProbe(ProbeState *state)
{
	index_endscan(state->scan);
	ExecDropSingleTupleTableSlot(state->slot);
	index_close(state->index, NoLock);
}

/*
 * FindKey
 *	  Probe keymgmt.keys (rel) through indexoid for value.
 *
 * Fills the output columns it owns (copied out of the buffer) and *blocked,
 * and returns whether the key exists.  Locks are AccessShareLock, kept to
 * the end of the transaction as a query's would be.
 */
static bool
FindKey(Relation rel, Oid indexoid, RegProcedure eq, Datum value,
		Datum *values, bool *nulls, bool *blocked)
{
	ProbeState	probe;
	bool		found = Probe(rel, indexoid, eq, value, &probe);
	int			i;

	if (found)
	{
		TupleDesc	desc = RelationGetDescr(rel);
		TupleTableSlot *slot = probe.slot;

		*blocked = DatumGetBool(slot->tts_values[attnum_blocked - 1]);
		for (i = 0; i < V_NCOLUMNS; i++)
		{
			Form_pg_attribute att;

			if (attnums[i] == InvalidAttrNumber)
				continue;
			att = TupleDescAttr(desc, attnums[i] - 1);
			nulls[i] = slot->tts_isnull[attnums[i] - 1];
			if (!nulls[i])
				values[i] = datumCopy(slot->tts_values[attnums[i] - 1],
									  att->attbyval, att->attlen);
		}
	}
	EndProbe(&probe);
	return found;
}

/*
 * FindPrevious
 *	  Is token a previous secret still in its grace?  Then *key_id is its
 *	  key's and *valid_until the end of its grace.  One probe of
 *	  previous_tokens' primary key.
 */
static bool
FindPrevious(Oid relid, Datum token, Datum *key_id, TimestampTz *valid_until)
{
	Relation	rel = table_open(relid, AccessShareLock);
	ProbeState	probe;
	bool		found = Probe(rel, KmPrimaryKeyIndex(rel), F_TEXTEQ, token,
							  &probe);

	if (found)
	{
		*key_id = datumCopy(probe.slot->tts_values[previous_key_id - 1],
							false, UUID_LEN);
		*valid_until =
			DatumGetTimestampTz(probe.slot->tts_values[previous_valid_until - 1]);
		found = *valid_until > GetCurrentTransactionStartTimestamp();
	}
	EndProbe(&probe);
	table_close(rel, NoLock);
	return found;
}

/*
 * FindKeyAsOwner
 *	  Find the key of token -- its current secret, or a previous one still
 *	  in its grace, looked for only when the first probe missed -- with the
 *	  rights of keymgmt.keys' owner, as a SECURITY DEFINER function would,
 *	  and in a restricted operation.
 *
 * An error needs no cleanup here: aborting the (sub)transaction restores
 * the user and security context.
 */
static bool
FindKeyAsOwner(Datum token, Datum *values, bool *nulls, bool *blocked)
{
	Oid			save_userid;
	int			save_sec_context;
	Oid			relid = KeysTable();
	Relation	rel;
	bool		found;
	Oid			previous;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(KeysTableOwner(), save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	rel = table_open(relid, AccessShareLock);
	found = FindKey(rel, KmPrimaryKeyIndex(rel), F_TEXTEQ, token, values, nulls,
					blocked);
	if (!found && attnums[V_KEY_ID] != InvalidAttrNumber &&
		OidIsValid(previous = PreviousTable()))
	{
		Datum		key_id;
		TimestampTz valid_until;

		if (!OidIsValid(key_id_index))
			key_id_index = KeyIdIndex(rel);
		if (OidIsValid(key_id_index) &&
			FindPrevious(previous, token, &key_id, &valid_until) &&
			FindKey(rel, key_id_index, F_UUID_EQ, key_id, values, nulls, blocked))
		{
			found = true;
			values[V_GRACE_UNTIL] = TimestampTzGetDatum(valid_until);
			nulls[V_GRACE_UNTIL] = false;
		}
	}
	table_close(rel, NoLock);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	return found;
}

/*
 * verify_key(key text) RETURNS TABLE(valid, status, token, user_id, team_id,
 *									   organization_id, expires, metadata,
 *									   key_id, grace_until)
 *
 * status is checked in this order: not_found, blocked, expired, else valid.
 * A previous secret in its grace answers as its key does, with grace_until
 * set (and token the token of the secret given).  keymgmt 1.0's definition
 * has no key_id and grace_until: ReturnOneRow hands it the first eight.
 * A key expires at its expires timestamp, compared with now() (the
 * transaction's start).  NULL raises 22004 like every other function.
 */
Datum
verify_key(PG_FUNCTION_ARGS)
{
	Datum		values[V_NCOLUMNS];
	bool		nulls[V_NCOLUMNS];
	ParsedKey	key;
	const char *status;
	bool		blocked;

	CheckOneRowContext(fcinfo);
	if (PG_ARGISNULL(0))
		ParseKeyArgument(fcinfo, 0, &key);	/* raises 22004 */

	memset(nulls, true, sizeof(nulls));
	nulls[V_VALID] = nulls[V_STATUS] = false;

	if (!KeyArgumentParses(fcinfo, 0, &key) || !key.is_raw)
		status = "malformed";
	else
	{
		values[V_TOKEN] = CStringGetTextDatum(key.token);
		nulls[V_TOKEN] = false;

		if (!FindKeyAsOwner(values[V_TOKEN], values, nulls, &blocked))
			status = "not_found";
		else if (blocked)
			status = "blocked";
		else if (!nulls[V_EXPIRES] &&
				 DatumGetTimestampTz(values[V_EXPIRES]) <=
				 GetCurrentTransactionStartTimestamp())
			status = "expired";
		else
			status = "valid";
	}

	values[V_VALID] = BoolGetDatum(strcmp(status, "valid") == 0);
	values[V_STATUS] = CStringGetTextDatum(status);
	ReturnOneRow(fcinfo, values, nulls);
	return (Datum) 0;
}
