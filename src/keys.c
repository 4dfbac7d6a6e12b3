/*-------------------------------------------------------------------------
 *
 * keys.c
 *	  The SQL-callable key operations: generate_key, block_key, unblock_key,
 *	  delete_key and key_info.
 *
 * Each function notes its caller and runs as the extension's owner
 * (caller.c).  Every change follows one shape, in the caller's transaction:
 *	 1. parse the key (22004, 22023) and refuse read-only transactions (25006);
 *	 2. find and lock the row in one statement (LockKey: 42704 if it is gone,
 *		PostgreSQL's own 40001 / 55P03 under REPEATABLE READ / lock_timeout);
 *	 3. decide on the locked row: may this actor do this to this key (42501,
 *		authority.c)?  A change that changes nothing returns the row;
 *	 4. otherwise one statement changes the row and writes its audit row,
 *		and one notification is queued for commit.
 *
 *-------------------------------------------------------------------------
 */
#include "keymgmt.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(generate_key);
PG_FUNCTION_INFO_V1(block_key);
PG_FUNCTION_INFO_V1(unblock_key);
PG_FUNCTION_INFO_V1(delete_key);
PG_FUNCTION_INFO_V1(key_info);

/* The row of keymgmt.keys that a change has locked. */
typedef struct LockedKey
{
	bool		blocked;
	Datum		row;			/* keymgmt.keys, in SPI memory */
	Datum		before;			/* to_jsonb(row), for the audit row */
	KeyScope	scope;			/* owner, team, organization */
} LockedKey;

static SPIPlanPtr lock_plan = NULL;
static SPIPlanPtr lock_for_delete_plan = NULL;
static SPIPlanPtr set_blocked_plan = NULL;
static SPIPlanPtr delete_plan = NULL;
static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr info_plan = NULL;

#define LOCK_SQL(strength) \
	"SELECT k.blocked, k, pg_catalog.to_jsonb(k), k.user_id, k.team_id," \
	" k.organization_id FROM keymgmt.keys k " \
	"WHERE k.token OPERATOR(pg_catalog.=) $1 FOR " strength " OF k"

/* $1 token, $2 blocked, $3 now, $4 actor, $5 db_role, $6 before, $7 action */
#define SET_BLOCKED_SQL \
	"WITH upd AS (" \
	"  UPDATE keymgmt.keys k SET blocked = $2, updated_at = $3, updated_by = $4" \
	"  WHERE k.token OPERATOR(pg_catalog.=) $1 RETURNING k" \
	"), aud AS (" \
	"  INSERT INTO keymgmt.audit_log (object_type, changed_at, action, object_id," \
	"    changed_by, db_role, before_value, updated_values)" \
	"  SELECT 'key', $3, $7, $1, $4, $5, $6," \
	"    pg_catalog.jsonb_build_object('blocked', $2) FROM upd" \
	") SELECT upd.k FROM upd"

/* $1 token, $2 now, $3 actor, $4 db_role, $5 before */
#define DELETE_SQL \
	"WITH del AS (" \
	"  DELETE FROM keymgmt.keys k WHERE k.token OPERATOR(pg_catalog.=) $1" \
	"  RETURNING k" \
	"), aud AS (" \
	"  INSERT INTO keymgmt.audit_log (object_type, changed_at, action, object_id," \
	"    changed_by, db_role, before_value)" \
	"  SELECT 'key', $2, 'deleted', $1, $3, $4, $5 FROM del" \
	") SELECT del.k FROM del"

/*
 * $1 token, $2 key_name, $3 key_alias, $4 user_id, $5 team_id,
 * $6 organization_id, $7 expires, $8 metadata, $9 now, $10 actor, $11 db_role
 */
#define INSERT_SQL \
	"WITH ins AS (" \
	"  INSERT INTO keymgmt.keys AS k (token, key_name, key_alias, user_id," \
	"    team_id, organization_id, blocked, expires, metadata," \
	"    created_at, updated_at, created_by, updated_by)" \
	"  VALUES ($1, $2, $3, $4, $5, $6, false, $7, $8, $9, $9, $10, $10)" \
	"  ON CONFLICT (key_alias) DO NOTHING RETURNING k" \
	") INSERT INTO keymgmt.audit_log (object_type, changed_at, action, object_id," \
	"    changed_by, db_role, updated_values)" \
	"  SELECT 'key', $9, 'created', $1, $10, $11, pg_catalog.to_jsonb(ins.k)" \
	"  FROM ins"

#define INFO_SQL \
	"SELECT k FROM keymgmt.keys k WHERE k.token OPERATOR(pg_catalog.=) $1"

/*
 * PrepareChange
 *	  The steps every change takes before it touches a row.
 */
static void
PrepareChange(FunctionCallInfo fcinfo, const char *what, ParsedKey *key)
{
	ParseKeyArgument(fcinfo, 0, key);
	PreventCommandIfReadOnly(what);	/* also on a standby */
}

/*
 * LockKey
 *	  Find the key's row and lock it in the same statement.
 *
 * In READ COMMITTED a caller that waited for the lock gets the committed
 * outcome of the other transaction: the newer row, or no row if it was
 * deleted (42704).  Under REPEATABLE READ PostgreSQL raises 40001 itself.
 * Must run inside SPI_connect().
 */
static void
LockKey(const ParsedKey *key, bool for_delete, LockedKey *out)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	SPIPlanPtr	plan;
	HeapTuple	row;
	TupleDesc	desc;
	bool		isnull;
	int			ret;

	if (for_delete)
		plan = KeptPlan(&lock_for_delete_plan, LOCK_SQL("UPDATE"), 1, argtypes);
	else
		plan = KeptPlan(&lock_plan, LOCK_SQL("NO KEY UPDATE"), 1, argtypes);

	args[0] = CStringGetTextDatum(key->token);
	ret = SPI_execute_plan(plan, args, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "keymgmt: locking a key failed: %s",
			 SPI_result_code_string(ret));
	if (SPI_processed == 0)
		ReportKeyNotFound(key);

	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	out->blocked = DatumGetBool(SPI_getbinval(row, desc, 1, &isnull));
	out->row = SPI_getbinval(row, desc, 2, &isnull);
	out->before = SPI_getbinval(row, desc, 3, &isnull);
	out->scope.user_id = SPI_getvalue(row, desc, 4);
	out->scope.team_id = SPI_getvalue(row, desc, 5);
	out->scope.organization_id = SPI_getvalue(row, desc, 6);
}

/*
 * RunChange
 *	  Execute a change statement that must return exactly the changed row.
 */
static Datum
RunChange(SPIPlanPtr plan, Datum *args)
{
	bool		isnull;
	int			ret;

	ret = SPI_execute_plan(plan, args, NULL, false, 0);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "keymgmt: change of a locked key failed: %s",
			 SPI_result_code_string(ret));
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
						 &isnull);
}

/*
 * SetBlocked
 *	  block_key and unblock_key: lock, decide, change, audit, notify.
 */
static Datum
SetBlocked(FunctionCallInfo fcinfo, bool blocked)
{
	const char *action = blocked ? "blocked" : "unblocked";
	Caller		caller;
	ParsedKey	key;
	LockedKey	locked;
	Actor		actor;
	Datum		result;

	CallerEnter(fcinfo, &caller);
	PrepareChange(fcinfo, blocked ? "block_key()" : "unblock_key()", &key);
	ResolveActor(fcinfo, 1, &caller, &actor);

	SPI_connect();
	LockKey(&key, false, &locked);
	/* an owner may block their own key (a safe direction), not unblock it */
	CheckAuthority(&actor, &caller, blocked ? "block" : "unblock", blocked,
				   &key, &locked.scope);

	if (locked.blocked == blocked)
		result = locked.row;	/* nothing to change: no audit, no message */
	else
	{
		Oid			argtypes[7] = {TEXTOID, BOOLOID, TIMESTAMPTZOID, TEXTOID,
		TEXTOID, JSONBOID, TEXTOID};
		Datum		args[7];

		args[0] = CStringGetTextDatum(key.token);
		args[1] = BoolGetDatum(blocked);
		args[2] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
		args[3] = CStringGetTextDatum(actor.name);
		args[4] = CStringGetTextDatum(CallerRoleName(&caller));
		args[5] = locked.before;
		args[6] = CStringGetTextDatum(action);
		result = RunChange(KeptPlan(&set_blocked_plan, SET_BLOCKED_SQL,
									7, argtypes), args);
		NotifyKeyChange(action, key.token);
	}

	result = SPI_datumTransfer(result, false, -1);
	SPI_finish();
	CallerLeave(&caller);
	PG_RETURN_DATUM(result);
}

/*
 * block_key(key text, actor text DEFAULT NULL) RETURNS keymgmt.keys
 *	  Set blocked; returns the row as it now is.
 */
Datum
block_key(PG_FUNCTION_ARGS)
{
	return SetBlocked(fcinfo, true);
}

/*
 * unblock_key(key text, actor text DEFAULT NULL) RETURNS keymgmt.keys
 *	  Clear blocked; returns the row as it now is.
 */
Datum
unblock_key(PG_FUNCTION_ARGS)
{
	return SetBlocked(fcinfo, false);
}

/*
 * delete_key(key text, actor text DEFAULT NULL) RETURNS keymgmt.keys
 *	  Delete the key; returns the row as it was.
 */
Datum
delete_key(PG_FUNCTION_ARGS)
{
	Oid			argtypes[5] = {TEXTOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, JSONBOID};
	Datum		args[5];
	Caller		caller;
	ParsedKey	key;
	LockedKey	locked;
	Actor		actor;
	Datum		result;

	CallerEnter(fcinfo, &caller);
	PrepareChange(fcinfo, "delete_key()", &key);
	ResolveActor(fcinfo, 1, &caller, &actor);

	SPI_connect();
	LockKey(&key, true, &locked);
	CheckAuthority(&actor, &caller, "delete", true, &key, &locked.scope);

	args[0] = CStringGetTextDatum(key.token);
	args[1] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	args[2] = CStringGetTextDatum(actor.name);
	args[3] = CStringGetTextDatum(CallerRoleName(&caller));
	args[4] = locked.before;
	result = RunChange(KeptPlan(&delete_plan, DELETE_SQL, 5, argtypes), args);
	NotifyKeyChange("deleted", key.token);

	result = SPI_datumTransfer(result, false, -1);
	SPI_finish();
	CallerLeave(&caller);
	PG_RETURN_DATUM(result);
}

/*
 * generate_key(key_alias, user_id, team_id, organization_id, expires,
 *				metadata, actor) RETURNS TABLE(key, token, key_name)
 *	  Create a key from 256 random bits; the raw key is returned only here.
 *
 * With an actor, only a key the actor could block (CheckCreateAuthority).
 * A taken key_alias is 23505.  The insert skips the conflict itself (and so
 * waits for a concurrent insert of the same alias to commit or roll back),
 * and we report it, rather than showing the unique index's error with our
 * internal statement as its context.
 */
Datum
generate_key(PG_FUNCTION_ARGS)
{
	static const char *const names[4] = {"key_alias", "user_id", "team_id",
	"organization_id"};
	Oid			argtypes[11] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		TEXTOID, TIMESTAMPTZOID, JSONBOID, TIMESTAMPTZOID, TEXTOID, TEXTOID};
	Datum		args[11];
	char		nulls[11];
	char	   *ids[4];
	char	   *raw;
	char		token[KEYMGMT_TOKEN_LEN + 1];
	char		name[KEYMGMT_DISPLAY_LEN];
	Caller		caller;
	Actor		actor;
	KeyScope	scope;
	MemoryContext callcxt;
	MemoryContext oldcxt;
	int			ret;
	int			i;
	Datum		values[3];
	bool		isnull[3] = {false, false, false};

	CallerEnter(fcinfo, &caller);
	CheckOneRowContext(fcinfo);
	memset(nulls, ' ', sizeof(nulls));
	for (i = 0; i < 4; i++)		/* key_alias .. organization_id */
	{
		ids[i] = NameArgument(fcinfo, i, names[i]);
		args[i + 2] = ids[i] ? CStringGetTextDatum(ids[i]) : (Datum) 0;
		if (ids[i] == NULL)
			nulls[i + 2] = 'n';
	}
	args[6] = PG_GETARG_DATUM(4);	/* expires */
	if (PG_ARGISNULL(4))
		nulls[6] = 'n';
	/* metadata: an object; null means none, as the column's default says */
	if (PG_ARGISNULL(5))
		args[7] = DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
	else if (!JB_ROOT_IS_OBJECT(PG_GETARG_JSONB_P(5)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("metadata must be a JSON object")));
	else
		args[7] = PG_GETARG_DATUM(5);
	PreventCommandIfReadOnly("generate_key()");
	ResolveActor(fcinfo, 6, &caller, &actor);
	scope.user_id = ids[1];
	scope.team_id = ids[2];
	scope.organization_id = ids[3];

	callcxt = CurrentMemoryContext;
	SPI_connect();
	/* before the key exists: a refused call leaves no raw key in memory */
	CheckCreateAuthority(&actor, &caller, "generate_key()", &scope);

	/* the raw key outlives SPI_finish: it is the result */
	oldcxt = MemoryContextSwitchTo(callcxt);
	raw = KeyGenerate();
	MemoryContextSwitchTo(oldcxt);
	KeyHash(raw, strlen(raw), token);
	KeyName(raw, strlen(raw), name);
	args[0] = CStringGetTextDatum(token);
	args[1] = CStringGetTextDatum(name);
	args[8] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	args[9] = CStringGetTextDatum(actor.name);
	args[10] = CStringGetTextDatum(CallerRoleName(&caller));

	ret = SPI_execute_plan(KeptPlan(&insert_plan, INSERT_SQL, 11, argtypes),
						   args, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "keymgmt: inserting a key failed: %s",
			 SPI_result_code_string(ret));
	if (SPI_processed != 1 && ids[0] == NULL)
		elog(ERROR, "keymgmt: inserting a key inserted no row");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("key alias \"%s\" is already taken",
						ClipForMessage(ids[0])),
				 errdetail("Aliases are unique; choose another one or none.")));
	SPI_finish();

	NotifyKeyChange("created", token);
	CallerLeave(&caller);

	values[0] = CStringGetTextDatum(raw);
	values[1] = CStringGetTextDatum(token);
	values[2] = CStringGetTextDatum(name);
	ReturnOneRow(fcinfo, values, isnull);

	/* the result holds its own copy; leave no other behind */
	explicit_bzero(raw, strlen(raw));
	explicit_bzero(VARDATA(DatumGetPointer(values[0])),
				   VARSIZE(DatumGetPointer(values[0])) - VARHDRSZ);
	return (Datum) 0;
}

/*
 * key_info(key text) RETURNS keymgmt.keys
 *	  Read one key by raw key or token: no lock, no audit.
 */
Datum
key_info(PG_FUNCTION_ARGS)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	ParsedKey	key;
	Caller		caller;
	Datum		result;
	bool		isnull;
	int			ret;

	CallerEnter(fcinfo, &caller);
	ParseKeyArgument(fcinfo, 0, &key);

	SPI_connect();
	args[0] = CStringGetTextDatum(key.token);
	ret = SPI_execute_plan(KeptPlan(&info_plan, INFO_SQL, 1, argtypes),
						   args, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "keymgmt: reading a key failed: %s",
			 SPI_result_code_string(ret));
	if (SPI_processed == 0)
		ReportKeyNotFound(&key);

	result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
						   &isnull);
	result = SPI_datumTransfer(result, false, -1);
	SPI_finish();
	CallerLeave(&caller);
	PG_RETURN_DATUM(result);
}
