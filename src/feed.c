/*-------------------------------------------------------------------------
 *
 * feed.c
 *	  The change feed: changes(after, max_rows) and current_cursor().
 *
 * The audit log is the feed.  Every audit row carries the id of the
 * transaction that wrote it (audit_log.txid), and the feed returns rows in
 * (txid, id) order, but only rows whose transaction is below the snapshot's
 * xmin: every transaction that could still write a row before them has
 * ended.  A row that commits late (a transaction with a lower id that
 * commits after one with a higher id) is therefore never behind a cursor
 * already handed out: it is held back until it can no longer be overtaken.
 * A long-running transaction delays the feed; it never makes it skip.
 *
 * A cursor names its cluster (the system identifier, which a physical
 * standby shares with its primary), its database, and a position
 * (txid, id): "<system identifier>:<database oid>:<txid>:<id>".  A cache
 * that gets a cursor of another cluster or database (a restore, a
 * misconfigured DSN) must start again empty, so that is an error, not an
 * empty answer.
 *
 * Both functions only read, so they work on a hot standby, where the
 * snapshot's xmin comes from the replayed transactions.
 *
 *-------------------------------------------------------------------------
 */
#include "keymgmt.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/params.h"
#include "tcop/dest.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/xid8.h"

PG_FUNCTION_INFO_V1(changes);
PG_FUNCTION_INFO_V1(current_cursor);

#define CHANGES_MAX_ROWS 1000
/* longest cursor: 20 + 10 + 20 + 19 digits and three colons */
#define CURSOR_MAX_LEN 72

/*
 * Rows after ($1, $2) that no running transaction can still precede; the
 * first column (the row's txid) becomes the row's cursor.
 */
#define CHANGES_SQL \
	"SELECT a.txid, a.id, a.object_type, a.action, a.object_id, a.key_id," \
	" a.changed_at FROM keymgmt.audit_log a" \
	" WHERE (a.txid, a.id) OPERATOR(pg_catalog.>) ($1, $2)" \
	" AND a.txid OPERATOR(pg_catalog.<)" \
	" pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())" \
	" ORDER BY a.txid, a.id LIMIT $3"

static SPIPlanPtr changes_plan = NULL;

typedef struct FeedPosition
{
	uint64		txid;
	int64		id;
} FeedPosition;

/*
 * CursorText
 *	  The cursor that stands just after position (txid, id) of this
 *	  cluster's and database's feed.
 */
/* "<system identifier>:<database oid>:", what every cursor here starts with */
static void
CursorPrefix(char *buf, size_t size)
{
	snprintf(buf, size, UINT64_FORMAT ":%u:", GetSystemIdentifier(), MyDatabaseId);
}

char *
CursorText(uint64 txid, int64 id)
{
	char		prefix[CURSOR_MAX_LEN + 1];

	CursorPrefix(prefix, sizeof(prefix));
	return psprintf("%s" UINT64_FORMAT ":" INT64_FORMAT, prefix, txid, id);
}

/*
 * Where the feed's rows go: the result's tuplestore, each row's txid
 * replaced by its cursor.  On 14 and later SPI hands the rows over as the
 * executor makes them (FeedReceive); before, from SPI's own copy.
 */
typedef struct FeedRows
{
	DestReceiver pub;
	Tuplestorestate *store;
	TupleDesc	desc;
	char		prefix[CURSOR_MAX_LEN + 1];	/* "<system id>:<database>:" */
} FeedRows;

#define FEED_COLUMNS 7

static void
PutChange(FeedRows *rows, Datum *values, bool *nulls)
{
	char		cursor[CURSOR_MAX_LEN + 1];
	int			len;
	text	   *t;

	len = snprintf(cursor, sizeof(cursor), "%s" UINT64_FORMAT ":" INT64_FORMAT,
				   rows->prefix,
				   U64FromFullTransactionId(DatumGetFullTransactionId(values[0])),
				   DatumGetInt64(values[1]));
	t = cstring_to_text_with_len(cursor, len);
	values[0] = PointerGetDatum(t);
	tuplestore_putvalues(rows->store, rows->desc, values, nulls);
	pfree(t);
}

#ifdef KM_SPI_EXECUTE_TO_DEST
static bool
FeedReceive(TupleTableSlot *slot, DestReceiver *self)
{
	Datum		values[FEED_COLUMNS];
	bool		nulls[FEED_COLUMNS];

	slot_getallattrs(slot);
	memcpy(values, slot->tts_values, sizeof(values));
	memcpy(nulls, slot->tts_isnull, sizeof(nulls));
	PutChange((FeedRows *) self, values, nulls);
	return true;
}

static void
FeedStartup(DestReceiver *self pg_attribute_unused(),
			int operation pg_attribute_unused(),
			TupleDesc typeinfo pg_attribute_unused())
{
}

static void
FeedShutdown(DestReceiver *self pg_attribute_unused())
{
}
#endif

/*
 * ReadNumber
 *	  Unsigned decimal digits up to ':' or the end; false if there are none,
 *	  or anything else, or too many.
 */
static bool
ReadNumber(const char **s, uint64 max, uint64 *out)
{
	const char *p = *s;
	uint64		v = 0;

	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++)
	{
		if (v > (max - (*p - '0')) / 10)
			return false;
		v = v * 10 + (*p - '0');
	}
	*out = v;
	*s = p;
	return true;
}

/*
 * ParseCursor
 *	  The position a cursor of this cluster and database stands for, or
 *	  22023: malformed, of another cluster, of another database.  The
 *	  cursor itself is not repeated.
 */
static void
ParseCursor(text *cursor, FeedPosition *out)
{
	const char *restart = "Start again from keymgmt.current_cursor() with an empty cache.";
	char	   *s;
	const char *p;
	uint64		sysid,
				dboid,
				txid,
				id;

	if (VARSIZE_ANY_EXHDR(cursor) > CURSOR_MAX_LEN)
		goto malformed;
	s = text_to_cstring(cursor);
	p = s;
	if (!ReadNumber(&p, PG_UINT64_MAX, &sysid) || *p++ != ':' ||
		!ReadNumber(&p, PG_UINT32_MAX, &dboid) || *p++ != ':' ||
		!ReadNumber(&p, PG_UINT64_MAX, &txid) || *p++ != ':' ||
		!ReadNumber(&p, PG_INT64_MAX, &id) || *p != '\0')
		goto malformed;

	if (sysid != GetSystemIdentifier())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cursor is from another cluster"),
				 errdetail("Its system identifier is not this cluster's: the database was restored or the client is connected elsewhere."),
				 errhint("%s", restart)));
	if ((Oid) dboid != MyDatabaseId)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cursor is from another database"),
				 errhint("%s", restart)));
	out->txid = txid;
	out->id = (int64) id;
	return;

malformed:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("cursor is malformed"),
			 errdetail("A cursor is what keymgmt.current_cursor() or keymgmt.changes() returned; the value given is not repeated here."),
			 errhint("%s", restart)));
}

/*
 * RefuseOwnChanges
 *	  changes() in a transaction that has itself written: its own rows are
 *	  not committed, and they hold the feed back (the snapshot's xmin is at
 *	  most this transaction's id), so what it would answer is not what the
 *	  cache will see.
 */
static void
RefuseOwnChanges(void)
{
	if (FullTransactionIdIsValid(GetTopFullTransactionIdIfAny()))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("keymgmt.changes() cannot be called in a transaction that has changed data"),
				 errdetail("The feed returns committed changes only."),
				 errhint("Read the feed in its own transaction.")));
}

/*
 * SnapshotXmin
 *	  The active snapshot's xmin as a 64-bit transaction id.
 */
static uint64
SnapshotXmin(void)
{
	Datum		snapshot = DirectFunctionCall1(pg_current_snapshot, (Datum) 0);
	Datum		xmin = DirectFunctionCall1(pg_snapshot_xmin, snapshot);

	return U64FromFullTransactionId(DatumGetFullTransactionId(xmin));
}

/*
 * current_cursor() RETURNS text
 *	  A cursor just before every change that is not yet final: a cache that
 *	  starts empty now and follows the feed from here misses nothing (it may
 *	  see a change it already read the outcome of, which costs it a lookup).
 */
Datum
current_cursor(PG_FUNCTION_ARGS)
{
	/* (xmin, 0): every row of a transaction below xmin is behind it */
	PG_RETURN_TEXT_P(cstring_to_text(CursorText(SnapshotXmin(), 0)));
}

/*
 * changes(after text, max_rows integer DEFAULT 1000)
 *		RETURNS TABLE(cursor, id, object_type, action, object_id, key_id,
 *					  changed_at)
 *	  At most max_rows committed changes after the cursor after, each with
 *	  the cursor that stands just after it.
 */
Datum
changes(PG_FUNCTION_ARGS)
{
	Oid			argtypes[3] = {XID8OID, INT8OID, INT4OID};
	Datum		args[3];
	FeedRows	rows;
	SPIPlanPtr	plan;
	Caller		caller;
	FeedPosition after;
	TupleDesc	desc;
	Tuplestorestate *store;
	int32		max_rows;
	uint64		i;
	int			ret;

	NullArgument(fcinfo, 0, "after");
	NullArgument(fcinfo, 1, "max_rows");
	ParseCursor(PG_GETARG_TEXT_PP(0), &after);
	max_rows = PG_GETARG_INT32(1);
	if (max_rows < 1 || max_rows > CHANGES_MAX_ROWS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_rows must be between 1 and %d", CHANGES_MAX_ROWS),
				 errhint("Ask again with the cursor of the last row returned.")));
	RefuseOwnChanges();

	CallerEnter(fcinfo, &caller);
	RequireCurrentSchema("changes()");
	store = BeginSetResult(fcinfo, &desc);
	args[0] = FullTransactionIdGetDatum(FullTransactionIdFromU64(after.txid));
	args[1] = Int64GetDatum(after.id);
	args[2] = Int32GetDatum(max_rows);
	if (desc->natts != FEED_COLUMNS)
		elog(ERROR, "keymgmt: changes() returns %d columns, not %d",
			 desc->natts, FEED_COLUMNS);
	memset(&rows, 0, sizeof(rows));
	rows.store = store;
	rows.desc = desc;
	CursorPrefix(rows.prefix, sizeof(rows.prefix));

	SPI_connect();
	plan = KeptPlan(&changes_plan, CHANGES_SQL, 3, argtypes);
#ifdef KM_SPI_EXECUTE_TO_DEST
	{
		SPIExecuteOptions options;
		ParamListInfo params = makeParamList(3);

		for (i = 0; i < 3; i++)
		{
			params->params[i].value = args[i];
			params->params[i].isnull = false;
			params->params[i].pflags = PARAM_FLAG_CONST;
			params->params[i].ptype = argtypes[i];
		}
		rows.pub.receiveSlot = FeedReceive;
		rows.pub.rStartup = FeedStartup;
		rows.pub.rShutdown = FeedShutdown;
		rows.pub.rDestroy = FeedShutdown;
		rows.pub.mydest = DestTuplestore;
		memset(&options, 0, sizeof(options));
		options.params = params;
		options.read_only = true;
		options.dest = &rows.pub;
		ret = SPI_execute_plan_extended(plan, &options);
	}
#else
	ret = SPI_execute_plan(plan, args, NULL, true, 0);
	for (i = 0; ret == SPI_OK_SELECT && i < SPI_processed; i++)
	{
		Datum		values[FEED_COLUMNS];
		bool		nulls[FEED_COLUMNS];

		heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
						  values, nulls);
		PutChange(&rows, values, nulls);
	}
#endif
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "keymgmt: reading the change feed failed: %s",
			 SPI_result_code_string(ret));
	SPI_finish();
	CallerLeave(&caller);
	return (Datum) 0;
}
