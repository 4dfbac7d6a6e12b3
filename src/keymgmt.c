/*-------------------------------------------------------------------------
 *
 * keymgmt.c
 *	  Module load, settings, and the helpers every SQL-callable function
 *	  shares: key arguments, kept SPI plans, one-row results.
 *
 *-------------------------------------------------------------------------
 */
#include "keymgmt.h"

#include "access/detoast.h"
#include "access/xact.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/resowner.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"

PG_MODULE_MAGIC;

/* keymgmt.notify: how caches hear of changes (superuser-only) */
int			keymgmt_notify = NOTIFY_COMMIT;
/* keymgmt.database: where the batched notifier runs */
char	   *keymgmt_database = NULL;
/* keymgmt.notify_interval: how often the notifier looks, in ms */
int			keymgmt_notify_interval = 50;

/* "on" and the other boolean spellings stay accepted, as 1.0 was a boolean */
static const struct config_enum_entry notify_modes[] = {
	{"commit", NOTIFY_COMMIT, false},
	{"batched", NOTIFY_BATCHED, false},
	{"off", NOTIFY_OFF, false},
	{"on", NOTIFY_COMMIT, true},
	{"true", NOTIFY_COMMIT, true},
	{"yes", NOTIFY_COMMIT, true},
	{"1", NOTIFY_COMMIT, true},
	{"false", NOTIFY_OFF, true},
	{"no", NOTIFY_OFF, true},
	{"0", NOTIFY_OFF, true},
	{NULL, 0, false}
};

void		_PG_init(void);

/*
 * _PG_init
 *	  Define the settings.
 *
 * keymgmt.notify and keymgmt.require_actor are PGC_SUSET: a value that a
 * non-superuser SET before the library was loaded is refused (with a
 * warning) when it is defined here, so they stay superuser-only either way.
 * But then the setting falls back to its default, even where ALTER ROLE ...
 * SET gave the role another: so require_actor is no security boundary
 * unless keymgmt is preloaded.  set_actor_required (actor.c) is.
 */
void
_PG_init(void)
{
	DefineCustomStringVariable("keymgmt.actor",
							   "Names who is making key changes in this session or transaction.",
							   "Used when a function's actor argument is null. Empty means none: the calling role acts.",
							   &keymgmt_actor,
							   "",
							   PGC_USERSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomEnumVariable("keymgmt.notify",
							 "How caches hear of key changes: commit, batched or off.",
							 "commit: one notification on channel \"keymgmt\" per change, sent by the changing transaction. "
							 "batched: one per keymgmt.notify_interval from a background worker, when changes became visible to keymgmt.changes(). "
							 "off: none; caches poll keymgmt.changes().",
							 &keymgmt_notify,
							 NOTIFY_COMMIT,
							 notify_modes,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("keymgmt.database",
							   "The database whose changes the batched notifier announces.",
							   "The notifier runs only when keymgmt is in shared_preload_libraries; it reconnects when this changes.",
							   &keymgmt_database,
							   "postgres",
							   PGC_SIGHUP,
							   0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("keymgmt.notify_interval",
							"How often the batched notifier looks for new changes.",
							NULL,
							&keymgmt_notify_interval,
							50, 10, 60000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("keymgmt.require_actor",
							 "Refuses key changes that name no actor.",
							 "A session setting, lost to a client's startup option unless keymgmt is preloaded: for roles that must always act for someone use keymgmt.set_actor_required().",
							 &keymgmt_require_actor,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	MarkGUCPrefixReserved("keymgmt");

	if (process_shared_preload_libraries_in_progress)
		RegisterNotifier();
}

/*
 * KeyArgumentParses
 *	  Parse a non-null key argument; false when it is malformed.
 *
 * The length is checked on the datum's raw size before anything is
 * detoasted, so a 10 MB argument is refused without being read.
 */
bool
KeyArgumentParses(FunctionCallInfo fcinfo, int argno, ParsedKey *out)
{
	Datum		d = PG_GETARG_DATUM(argno);
	text	   *t;

	if (toast_raw_datum_size(d) - VARHDRSZ > KEYMGMT_RAW_MAX_LEN)
		return false;
	t = DatumGetTextPP(d);
	return KeyParse(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), out);
}

/*
 * ParseKeyArgument
 *	  Read a key argument of an admin function -- a raw key, a token or a
 *	  key_id -- and parse it, or raise 22004 / 22023.  The message never
 *	  repeats the input.
 */
void
ParseKeyArgument(FunctionCallInfo fcinfo, int argno, ParsedKey *out)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("key must not be null")));

	out->is_key_id = false;
	if (KeyArgumentParses(fcinfo, argno, out))
		return;
	if (toast_raw_datum_size(PG_GETARG_DATUM(argno)) - VARHDRSZ == 36)
	{
		text	   *t = PG_GETARG_TEXT_PP(argno);

		if (KeyIdParse(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &out->key_id))
		{
			out->is_raw = false;
			out->is_key_id = true;
			out->token[0] = '\0';
			strlcpy(out->display,
					DatumGetCString(DirectFunctionCall1(uuid_out,
														UUIDPGetDatum(&out->key_id))),
					sizeof(out->display));
			return;
		}
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("malformed key"),
			 errdetail("A key is \"sk-\" followed by 1 to 252 characters of A-Z, a-z, 0-9, \"_\" or \"-\", a token of 64 hexadecimal digits, or a key_id (a uuid).")));
}

/*
 * NullArgument
 *	  22004 when an argument that has a non-null default is given as NULL.
 *	  Returns false, for use in conditions.
 */
bool
NullArgument(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
	return false;
}

/*
 * MetadataArgument
 *	  A metadata argument: a JSON object; NULL means none ({}), as the
 *	  column's default says.
 */
Datum
MetadataArgument(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		return DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
	if (!JB_ROOT_IS_OBJECT(PG_GETARG_JSONB_P(argno)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("metadata must be a JSON object")));
	return PG_GETARG_DATUM(argno);
}

/*
 * KeptPlan
 *	  Prepare sql once per backend and keep it; later calls reuse it.
 *
 * Must be called inside SPI_connect().  Every query is fully
 * schema-qualified, so the kept plan means the same under any search_path.
 */
SPIPlanPtr
KeptPlan(SPIPlanPtr *cache, const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan;

	if (*cache != NULL)
		return *cache;

	/*
	 * Always the generic plan: each statement is written for it (one plan
	 * per combination of filters, no "$1 IS NULL OR").  Left to choose, the
	 * plan cache would plan "= ANY ($1)" afresh on every call, as a generic
	 * plan estimates ten elements where a custom one sees one.
	 */
	plan = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for keymgmt query: %s",
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed for keymgmt query");
	*cache = plan;
	return plan;
}

/*
 * CheckOneRowContext
 *	  Refuse, before doing any work, a call from a context that cannot take
 *	  the row ReturnOneRow will hand back.
 */
void
CheckOneRowContext(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
}

/*
 * ReturnOneRow
 *	  Hand back the single row of a set-returning function.
 *
 * generate_key and verify_key return TABLE(...) but always exactly one row;
 * materialize mode needs no state between calls.  The caller has passed
 * CheckOneRowContext.  The row is formed with the row type the executor
 * expects (rsinfo->expectedDesc, which it built from the function's
 * definition when it started the query), so a definition with fewer
 * columns -- keymgmt 1.0's -- gets the columns it has, and nothing here
 * reads the catalog on the hot path.  Only a caller that gives no expected
 * row type gets one looked up, and handed back as setDesc.
 */
void
ReturnOneRow(FunctionCallInfo fcinfo, Datum *values, bool *nulls)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	tupdesc = rsinfo->expectedDesc;
	MemoryContext oldcxt;

	oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	if (tupdesc == NULL)
	{
		if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");
		tupdesc = CreateTupleDescCopy(tupdesc);
		rsinfo->setDesc = tupdesc;
	}
	rsinfo->setResult = tuplestore_begin_heap(false, false, work_mem);
	tuplestore_putvalues(rsinfo->setResult, tupdesc, values, nulls);
	MemoryContextSwitchTo(oldcxt);
	rsinfo->returnMode = SFRM_Materialize;
}

/*
 * BeginSetResult
 *	  Start the materialized result of a SETOF function: the tuplestore the
 *	  rows go into, in the query's memory, and (*desc) their row type.
 */
Tuplestorestate *
BeginSetResult(FunctionCallInfo fcinfo, TupleDesc *desc)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	tupdesc;
	Tuplestorestate *store;
	MemoryContext oldcxt;

	CheckOneRowContext(fcinfo);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	tupdesc = CreateTupleDescCopy(tupdesc);
	store = tuplestore_begin_heap(false, false, work_mem);
	MemoryContextSwitchTo(oldcxt);

	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = tupdesc;
	*desc = tupdesc;
	return store;
}

/*
 * TryInSubtransaction
 *	  Run fn(arg) in a subtransaction.  True when it ran through; false
 *	  when it raised an error that accept() says the caller handles -- the
 *	  subtransaction is then rolled back and the error dropped.  Any other
 *	  error is raised again.  fn returns what it computes through arg.
 */
bool
TryInSubtransaction(void (*fn) (void *arg), void *arg,
					bool (*accept) (int sqlerrcode))
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile bool ran = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		if (!accept(edata->sqlerrcode))
			ReThrowError(edata);
		FreeErrorData(edata);
		ran = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;
	return ran;
}

/*
 * PutRow
 *	  Add a row-typed datum (a keymgmt.keys row) to a SETOF result.
 */
void
PutRow(Tuplestorestate *store, Datum row)
{
	HeapTupleData tuple;

	tuple.t_data = DatumGetHeapTupleHeader(row);
	tuple.t_len = HeapTupleHeaderGetDatumLength(tuple.t_data);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuplestore_puttuple(store, &tuple);
}

/*
 * ReportKeyNotFound
 *	  42704, naming the key only by its display form.
 */
void
ReportKeyNotFound(const ParsedKey *key)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("key \"%s\" does not exist", key->display),
			 key->is_key_id ?
			 errdetail("There is no key with this key_id, or it was deleted.") :
			 errdetail("There is no key with this token, or it was deleted.")));
}
