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
#include "access/xact.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(verify_key);

/* output columns of verify_key */
enum
{
	V_VALID, V_STATUS, V_TOKEN, V_USER_ID, V_TEAM_ID, V_ORGANIZATION_ID,
	V_EXPIRES, V_METADATA, V_NCOLUMNS
};

/* the columns of keymgmt.keys that verify_key reads, by output column */
static const char *const key_columns[V_NCOLUMNS] = {
	[V_USER_ID] = "user_id",
	[V_TEAM_ID] = "team_id",
	[V_ORGANIZATION_ID] = "organization_id",
	[V_EXPIRES] = "expires",
	[V_METADATA] = "metadata",
};

/*
 * The attribute numbers verify_key reads, kept across calls beside the OID
 * of the keymgmt.keys they were looked up for (caller.c's KeptRelation
 * forgets it on any invalidation of the table).
 */
static Oid	attnums_relid = InvalidOid;
static AttrNumber attnum_blocked;
static AttrNumber attnums[V_NCOLUMNS];

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
	return relid;
}

/*
 * FindKey
 *	  Probe keymgmt.keys (relid) primary key for token in the active snapshot.
 *
 * Fills the output columns it owns (copied out of the buffer) and *blocked,
 * and returns whether the key exists.  Locks are AccessShareLock, kept to
 * the end of the transaction as a query's would be.
 */
static bool
FindKey(Oid relid, Datum token, Datum *values, bool *nulls, bool *blocked)
{
	Relation	rel;
	Relation	index;
	TupleTableSlot *slot;
	IndexScanDesc scan;
	ScanKeyData key;
	bool		found;
	int			i;

	rel = table_open(relid, AccessShareLock);
	index = index_open(KmPrimaryKeyIndex(rel), AccessShareLock);
	slot = table_slot_create(rel, NULL);

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_TEXTEQ, token);
	key.sk_collation = index->rd_indcollation[0];
	scan = KmIndexBeginScan(rel, index, GetActiveSnapshot(), 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);

	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	if (found)
	{
		TupleDesc	desc = RelationGetDescr(rel);

		slot_getallattrs(slot);
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

	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, NoLock);
	table_close(rel, NoLock);
	return found;
}

/*
 * FindKeyAsOwner
 *	  FindKey with the rights of keymgmt.keys' owner, as a SECURITY DEFINER
 *	  function would run it, and in a restricted operation.
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
	bool		found;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(KeysTableOwner(), save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	found = FindKey(relid, token, values, nulls, blocked);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	return found;
}

/*
 * verify_key(key text) RETURNS TABLE(valid, status, token, user_id, team_id,
 *									   organization_id, expires, metadata)
 *
 * status is checked in this order: not_found, blocked, expired, else valid.
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
