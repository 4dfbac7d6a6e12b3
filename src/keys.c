/*-------------------------------------------------------------------------
 *
 * keys.c
 *	  Making keys and the one-key changes of 1.0: generate_key, import_key,
 *	  block_key, unblock_key, delete_key; key_info and key_id_at.
 *
 * Each function notes its caller and runs as the extension's owner
 * (caller.c), parses its arguments, then hands the change to RunKeyChange
 * (change.c), which locks, checks authority, writes the change with its
 * audit row and queues the notification.
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
PG_FUNCTION_INFO_V1(import_key);
PG_FUNCTION_INFO_V1(block_key);
PG_FUNCTION_INFO_V1(unblock_key);
PG_FUNCTION_INFO_V1(delete_key);
PG_FUNCTION_INFO_V1(key_info);
PG_FUNCTION_INFO_V1(key_id_at);

static SPIPlanPtr set_blocked_plan = NULL;
static SPIPlanPtr delete_plan = NULL;
static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr conflict_plan = NULL;

/*
 * The write statements (change.c: $1 tokens, $2 now, $3 actor, $4 db_role).
 * The self-join reads each locked row as it was, for the audit row's
 * before_value: nobody else can have changed it since we locked it.
 */

/* $5 blocked, $6 action */
#define SET_BLOCKED_SQL \
	"WITH upd AS (" \
	"  UPDATE keymgmt.keys k SET blocked = $5, updated_at = $2, updated_by = $3" \
	"  FROM keymgmt.keys o" \
	"  WHERE k.token OPERATOR(pg_catalog.=) ANY ($1)" \
	"    AND o.token OPERATOR(pg_catalog.=) k.token" \
	"  RETURNING k, pg_catalog.to_jsonb(o) AS before" \
	"), aud AS (" \
	"  INSERT INTO keymgmt.audit_log (object_type, changed_at, action, object_id," \
	"    key_id, changed_by, db_role, before_value, updated_values)" \
	"  SELECT 'key', $2, $6, (upd.k).token, (upd.k).key_id, $3, $4, upd.before," \
	"    pg_catalog.jsonb_build_object('blocked', $5) FROM upd" \
	") SELECT upd.k, (upd.k).token, (upd.k).key_id FROM upd"

/* deleting a key deletes its previous secrets */
#define DELETE_SQL \
	"WITH del AS (" \
	"  DELETE FROM keymgmt.keys k WHERE k.token OPERATOR(pg_catalog.=) ANY ($1)" \
	"  RETURNING k" \
	"), prev AS (" \
	"  DELETE FROM keymgmt.previous_tokens p USING del" \
	"  WHERE p.key_id OPERATOR(pg_catalog.=) (del.k).key_id" \
	"), aud AS (" \
	"  INSERT INTO keymgmt.audit_log (object_type, changed_at, action, object_id," \
	"    key_id, changed_by, db_role, before_value)" \
	"  SELECT 'key', $2, 'deleted', (del.k).token, (del.k).key_id, $3, $4," \
	"    pg_catalog.to_jsonb(del.k) FROM del" \
	") SELECT del.k, (del.k).token, (del.k).key_id FROM del"

/*
 * $5 token, $6 key_name, $7 key_alias, $8 user_id, $9 team_id,
 * $10 organization_id, $11 blocked, $12 expires, $13 metadata, $14 key_id.
 * A taken token, key_id or alias, or a previous secret still in its grace,
 * inserts nothing (ON CONFLICT waits for a concurrent insert of the same
 * value to commit or roll back); the conflict is then reported by name.
 */
#define INSERT_SQL \
	"WITH ins AS (" \
	"  INSERT INTO keymgmt.keys AS k (token, key_name, key_alias, user_id," \
	"    team_id, organization_id, blocked, expires, metadata," \
	"    created_at, updated_at, created_by, updated_by, key_id)" \
	"  SELECT $5, $6, $7, $8, $9, $10, $11, $12, $13, $2, $2, $3, $3, $14" \
	"  WHERE NOT EXISTS (SELECT 1 FROM keymgmt.previous_tokens p" \
	"    WHERE p.token OPERATOR(pg_catalog.=) $5" \
	"      AND p.valid_until OPERATOR(pg_catalog.>) $2)" \
	"  ON CONFLICT DO NOTHING RETURNING k" \
	"), aud AS (" \
	"  INSERT INTO keymgmt.audit_log (object_type, changed_at, action, object_id," \
	"    key_id, changed_by, db_role, updated_values)" \
	"  SELECT 'key', $2, 'created', (ins.k).token, (ins.k).key_id, $3, $4," \
	"    pg_catalog.to_jsonb(ins.k) FROM ins" \
	") SELECT ins.k, (ins.k).token, (ins.k).key_id FROM ins"

/* $1 token: which value of a new key was taken */
#define CONFLICT_SQL \
	"SELECT EXISTS (SELECT 1 FROM keymgmt.keys k" \
	"               WHERE k.token OPERATOR(pg_catalog.=) $1)," \
	"       EXISTS (SELECT 1 FROM keymgmt.previous_tokens p" \
	"               WHERE p.token OPERATOR(pg_catalog.=) $1" \
	"                 AND p.valid_until OPERATOR(pg_catalog.>) pg_catalog.now())"

/*
 * SetBlockedChange
 *	  Describe a block (blocked) or unblock, of one key or of many
 *	  (bulk.c): an owner may block their own key (a safe direction), not
 *	  unblock it.
 */
void
SetBlockedChange(KeyChange *c, bool blocked)
{
	c->action = blocked ? "blocked" : "unblocked";
	c->verb = blocked ? "block" : "unblock";
	c->owner_may = blocked;
	c->exclusive = false;
	c->write_sql = SET_BLOCKED_SQL;
	c->write_plan = &set_blocked_plan;
	c->nextra = 2;
	c->extra_types[0] = BOOLOID;
	c->extra[0] = BoolGetDatum(blocked);
	c->extra_types[1] = TEXTOID;
	c->extra[1] = CStringGetTextDatum(c->action);
	memset(c->extra_nulls, ' ', c->nextra);
	c->want_blocked = blocked;
}

/* a block of a blocked key, an unblock of an unblocked one, is a no-op */
static bool
BlockedChanges(KeyChange *c, LockedKey *key)
{
	return key->blocked != c->want_blocked;
}

/*
 * SetBlocked
 *	  block_key and unblock_key.
 */
static Datum
SetBlocked(FunctionCallInfo fcinfo, bool blocked)
{
	KeyChange	c = {0};
	Caller		caller;
	ParsedKey	key;
	Actor		actor;

	CallerEnter(fcinfo, &caller);
	ParseKeyArgument(fcinfo, 0, &key);
	ResolveActor(fcinfo, 1, &caller, &actor);

	c.what = blocked ? "block_key()" : "unblock_key()";
	SetBlockedChange(&c, blocked);
	c.changes = BlockedChanges;
	c.caller = &caller;
	c.actor = &actor;
	c.target = TARGET_KEY;
	c.key = &key;
	RunKeyChange(&c);

	CallerLeave(&caller);
	PG_RETURN_DATUM(c.row);
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
 *	  Delete the key and its previous secrets; returns the row as it was.
 */
Datum
delete_key(PG_FUNCTION_ARGS)
{
	KeyChange	c = {0};
	Caller		caller;
	ParsedKey	key;
	Actor		actor;

	CallerEnter(fcinfo, &caller);
	ParseKeyArgument(fcinfo, 0, &key);
	ResolveActor(fcinfo, 1, &caller, &actor);

	c.what = "delete_key()";
	c.verb = "delete";
	c.action = "deleted";
	c.owner_may = true;
	c.exclusive = true;
	c.write_sql = DELETE_SQL;
	c.write_plan = &delete_plan;
	c.caller = &caller;
	c.actor = &actor;
	c.target = TARGET_KEY;
	c.key = &key;
	RunKeyChange(&c);

	CallerLeave(&caller);
	PG_RETURN_DATUM(c.row);
}

/* what generate_key and import_key write, beside the names */
typedef struct NewKey
{
	const char *token;
	const char *alias;
	const char *shown;			/* the key in a message */
} NewKey;

/*
 * NewKeyConflict
 *	  The insert wrote nothing: say which of the new key's values is taken.
 *	  23505 in every case.
 */
static void
NewKeyConflict(KeyChange *c)
{
	NewKey	   *new = (NewKey *) c->arg;
	Oid			argtype = TEXTOID;
	Datum		arg = TokenOf(new->token);
	bool		isnull;
	int			ret;

	/* not read-only: a new snapshot sees the row ON CONFLICT waited for */
	ret = SPI_execute_plan(KeptPlan(&conflict_plan, CONFLICT_SQL, 1, &argtype),
						   &arg, NULL, false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "keymgmt: looking for a conflict failed: %s",
			 SPI_result_code_string(ret));
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								   1, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("key \"%s\" already exists", new->shown),
				 errdetail("A key with this token is already in keymgmt.keys.")));
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								   2, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("key \"%s\" already exists", new->shown),
				 errdetail("It is a previous secret of a rotated key, still in its grace.")));
	if (new->alias != NULL)
		ReportAliasTaken(new->alias);
	elog(ERROR, "keymgmt: inserting a key inserted no row");
}

/*
 * CreateKey
 *	  generate_key and import_key: the arguments from key_alias on are
 *	  (key_alias, user_id, team_id, organization_id) at first_name, then
 *	  expires, metadata and actor at the given positions.  blocked, the
 *	  imported key (import only) and the token and key_name are the
 *	  caller's.  Returns the new row.
 *
 * With an actor, only a key the actor could block (CheckCreateAuthority),
 * checked before the key exists.
 */
static Datum
CreateKey(FunctionCallInfo fcinfo, const char *what, Caller *caller,
		  int first_name, int expires_arg, int metadata_arg, int actor_arg,
		  bool blocked, const ParsedKey *imported, const char *token,
		  const char *key_name, const char *shown)
{
	static const char *const names[4] = {"key_alias", "user_id", "team_id",
	"organization_id"};
	KeyChange	c = {0};
	NewKey		new;
	Actor		actor;
	char	   *ids[4];
	pg_uuid_t  *key_id = palloc(sizeof(pg_uuid_t));
	int			i;

	memset(c.extra_nulls, ' ', sizeof(c.extra_nulls));
	for (i = 0; i < 4; i++)
	{
		ids[i] = NameArgument(fcinfo, first_name + i, names[i]);
		c.extra_types[2 + i] = TEXTOID;
		c.extra[2 + i] = ids[i] ? CStringGetTextDatum(ids[i]) : (Datum) 0;
		if (ids[i] == NULL)
			c.extra_nulls[2 + i] = 'n';
	}
	c.extra_types[0] = TEXTOID;
	c.extra[0] = TokenOf(token);
	c.extra_types[1] = TEXTOID;
	c.extra[1] = CStringGetTextDatum(key_name);
	c.extra_types[6] = BOOLOID;
	c.extra[6] = BoolGetDatum(blocked);
	c.extra_types[7] = TIMESTAMPTZOID;
	c.extra[7] = PG_GETARG_DATUM(expires_arg);
	if (PG_ARGISNULL(expires_arg))
		c.extra_nulls[7] = 'n';
	c.extra_types[8] = JSONBOID;
	c.extra[8] = MetadataArgument(fcinfo, metadata_arg);
	KeyIdMake(GetCurrentTransactionStartTimestamp(), key_id);
	c.extra_types[9] = UUIDOID;
	c.extra[9] = UUIDPGetDatum(key_id);
	c.nextra = 10;
	ResolveActor(fcinfo, actor_arg, caller, &actor);

	new.token = token;
	new.alias = ids[0];
	new.shown = shown;
	c.what = what;
	c.action = "created";
	c.write_sql = INSERT_SQL;
	c.write_plan = &insert_plan;
	c.conflict = NewKeyConflict;
	c.arg = &new;
	c.caller = caller;
	c.actor = &actor;
	c.target = TARGET_NEW;
	c.key = imported;			/* import_key: wait for where it is */
	c.scope.user_id = ids[1];
	c.scope.team_id = ids[2];
	c.scope.organization_id = ids[3];
	RunKeyChange(&c);
	return c.row;
}

/*
 * generate_key(key_alias, user_id, team_id, organization_id, expires,
 *				metadata, actor) RETURNS TABLE(key, token, key_name)
 *	  Create a key from 256 random bits; the raw key is returned only here.
 */
Datum
generate_key(PG_FUNCTION_ARGS)
{
	char	   *raw;
	char		token[KEYMGMT_TOKEN_LEN + 1];
	char		name[KEYMGMT_DISPLAY_LEN];
	Caller		caller;
	Datum		values[3];
	bool		isnull[3] = {false, false, false};

	CallerEnter(fcinfo, &caller);
	CheckOneRowContext(fcinfo);

	/*
	 * Made before the arguments are checked, but never seen unless the key
	 * is written: a refused call leaves only this memory, which we clear.
	 */
	raw = KeyGenerate();
	KeyHash(raw, strlen(raw), token);
	KeyName(raw, strlen(raw), name);
	PG_TRY();
	{
		(void) CreateKey(fcinfo, "generate_key()", &caller, 0, 4, 5, 6, false,
						 NULL, token, name, name);
	}
	PG_CATCH();
	{
		explicit_bzero(raw, strlen(raw));
		PG_RE_THROW();
	}
	PG_END_TRY();
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
 * ImportedKeyName
 *	  key_name given with a token: "sk-..." and 1 to 4 key characters, the
 *	  form LiteLLM stores (22004 when null, 22023 otherwise).
 */
static char *
ImportedKeyName(FunctionCallInfo fcinfo, int argno)
{
	char	   *name;
	size_t		len;
	size_t		i;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("key_name must not be null when key is a token"),
				 errhint("Give the key's display form, \"sk-...\" and its last 1 to 4 characters.")));
	name = NameArgument(fcinfo, argno, "key_name");
	len = strlen(name);
	if (len < 7 || len > 10 || strncmp(name, "sk-...", 6) != 0)
		goto malformed;
	for (i = 6; i < len; i++)
		if (!(isalnum((unsigned char) name[i]) || name[i] == '_' || name[i] == '-') ||
			(unsigned char) name[i] >= 0x80)
			goto malformed;
	return name;

malformed:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("key_name must be \"sk-...\" followed by 1 to 4 key characters"),
			 errdetail("The value is not repeated here.")));
}

/*
 * import_key(key, key_name, key_alias, user_id, team_id, organization_id,
 *			  blocked, expires, metadata, actor) RETURNS keymgmt.keys
 *	  Bring in a key that exists elsewhere, by its token (with its key_name)
 *	  or its raw key (hashed here, never stored; key_name derived).
 */
Datum
import_key(PG_FUNCTION_ARGS)
{
	ParsedKey	key;
	Caller		caller;
	char		name[KEYMGMT_DISPLAY_LEN];
	char	   *key_name;
	Datum		row;

	CallerEnter(fcinfo, &caller);
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("key must not be null")));
	if (!KeyArgumentParses(fcinfo, 0, &key))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed key"),
				 errdetail("import_key takes a raw key (\"sk-\" followed by 1 to 252 characters of A-Z, a-z, 0-9, \"_\" or \"-\") or its token (64 hexadecimal digits).")));
	NullArgument(fcinfo, 6, "blocked");
	if (key.is_raw)
	{
		text	   *t = PG_GETARG_TEXT_PP(0);

		KeyName(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), name);
		key_name = name;
	}
	else
		key_name = ImportedKeyName(fcinfo, 1);

	row = CreateKey(fcinfo, "import_key()", &caller, 2, 7, 8, 9,
					PG_GETARG_BOOL(6), &key, key.token, key_name, key.display);
	CallerLeave(&caller);
	PG_RETURN_DATUM(row);
}

/*
 * key_info(key text) RETURNS keymgmt.keys
 *	  Read one key by raw key, token (or a previous secret in its grace) or
 *	  key_id: no lock, no audit.
 */
Datum
key_info(PG_FUNCTION_ARGS)
{
	ParsedKey	key;
	LockedKey	found;
	Caller		caller;
	Datum		result;

	CallerEnter(fcinfo, &caller);
	ParseKeyArgument(fcinfo, 0, &key);
	RequireCurrentSchema("key_info()");

	SPI_connect();
	if (!FindKeyRow(&key, LOCK_NONE, &found))
		ReportKeyNotFound(&key);
	result = SPI_datumTransfer(found.row, false, -1);
	SPI_finish();
	CallerLeave(&caller);
	PG_RETURN_DATUM(result);
}

/*
 * key_id_at(created_at timestamptz) RETURNS uuid
 *	  A new key_id for a key created at created_at: the default of
 *	  keymgmt.keys.key_id, and what the update from 1.0 gives existing keys.
 */
Datum
key_id_at(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = palloc(sizeof(pg_uuid_t));

	KeyIdMake(PG_GETARG_TIMESTAMPTZ(0), id);
	PG_RETURN_UUID_P(id);
}
