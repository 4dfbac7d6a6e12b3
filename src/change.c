/*-------------------------------------------------------------------------
 *
 * change.c
 *	  The one path every key change takes.
 *
 * block, unblock, delete, update, rotate, end_grace, the bulk changes and
 * the creations (generate, import) describe themselves in a KeyChange
 * (keymgmt.h) after parsing their arguments (22004, 22023) and resolving
 * the actor; RunKeyChange then, in the caller's transaction:
 *	 1. refuses a read-only transaction or a standby (25006);
 *	 2. finds and locks the rows in the statement that finds them: one key
 *		(by token, by key_id, or by a previous secret still in its grace,
 *		probed only when the token missed), or every matching key in key_id
 *		order (42704 when one key is gone; PostgreSQL's own 40001 / 55P03
 *		under REPEATABLE READ / lock_timeout);
 *	 3. checks authority on each locked row (authority.c, 42501), or on the
 *		scope of a key to be created;
 *	 4. asks the change whether the row changes: if none does, that is a
 *		no-op that writes nothing and sends nothing;
 *	 5. runs the change's one statement, which writes the change and its
 *		audit rows for the keys that change;
 *	 6. queues one notification per row that statement returns.
 * A bulk change does 2 to 6 in batches of rows read from a cursor, so
 * 100,000 keys take no more memory than a thousand.
 *
 *-------------------------------------------------------------------------
 */
#include "keymgmt.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/* rows a bulk change locks, checks and writes at a time */
#define CHANGE_BATCH 1000
/* distinct (team, organization) scopes a bulk change remembers as allowed */
#define SCOPES_REMEMBERED 32

/* how a one-key change finds its row */
enum
{
	BY_TOKEN, BY_PREVIOUS, BY_KEY_ID, N_LOOKUPS
};

static SPIPlanPtr lock_plans[N_LOOKUPS][3];
static const char *const lock_clauses[3] = {
	[LOCK_NONE] = "", [LOCK_ROW] = " FOR NO KEY UPDATE OF k",
	[LOCK_ROW_EXCLUSIVE] = " FOR UPDATE OF k",
};
static SPIPlanPtr matching_plans[8];

#define LOCK_COLUMNS \
	"SELECT k.token, k.key_id, k.blocked, k.user_id, k.team_id," \
	" k.organization_id"

static const char *const lock_conditions[N_LOOKUPS] = {
	[BY_TOKEN] = "k.token OPERATOR(pg_catalog.=) $1",
	[BY_PREVIOUS] = "k.key_id OPERATOR(pg_catalog.=) (SELECT p.key_id"
	" FROM keymgmt.previous_tokens p WHERE p.token OPERATOR(pg_catalog.=) $1"
	" AND p.valid_until OPERATOR(pg_catalog.>) pg_catalog.now())",
	[BY_KEY_ID] = "k.key_id OPERATOR(pg_catalog.=) $1",
};

/* the bulk changes' allowed scopes, so 100,000 keys of a team cost one check */
typedef struct ScopeMemory
{
	bool		required_checked;	/* no actor: RequireActor has passed */
	int			n;
	char	   *team_id[SCOPES_REMEMBERED];
	char	   *organization_id[SCOPES_REMEMBERED];
} ScopeMemory;

static inline bool
SameText(const char *a, const char *b)
{
	return a == NULL ? b == NULL : (b != NULL && strcmp(a, b) == 0);
}

/*
 * TokenOf
 *	  A token as a text datum.
 */
Datum
TokenOf(const char *token)
{
	return CStringGetTextDatum(token);
}

/*
 * ReportAliasTaken
 *	  23505 for a key_alias another key has, clipped like every value.
 */
void
ReportAliasTaken(const char *alias)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("key alias \"%s\" is already taken", ClipForMessage(alias)),
			 errdetail("Aliases are unique; choose another one or none.")));
}

/*
 * ReadLocked
 *	  Copy row i of the lock statement's result into *out.  The result is
 *	  passed in: checking authority runs queries, which replace SPI_tuptable.
 */
static void
ReadLocked(SPITupleTable *locked, int i, LockedKey *out)
{
	HeapTuple	row = locked->vals[i];
	TupleDesc	desc = locked->tupdesc;
	bool		isnull;

	out->token = SPI_getvalue(row, desc, 1);
	out->key_id = datumCopy(SPI_getbinval(row, desc, 2, &isnull), false, 16);
	out->blocked = DatumGetBool(SPI_getbinval(row, desc, 3, &isnull));
	out->scope.user_id = SPI_getvalue(row, desc, 4);
	out->scope.team_id = SPI_getvalue(row, desc, 5);
	out->scope.organization_id = SPI_getvalue(row, desc, 6);
	out->row = desc->natts >= 7 ? SPI_getbinval(row, desc, 7, &isnull)
		: (Datum) 0;
}

/*
 * StillInGrace
 *	  After locking a key through one of its previous secrets: is the secret
 *	  still in its grace?  The lock statement read previous_tokens before it
 *	  waited for the row; a rotation or end_grace that held the row may have
 *	  ended the grace meanwhile.  Holding the key's lock now, nothing can
 *	  change its previous secrets; a new statement sees what committed.
 */
static SPIPlanPtr still_plan = NULL;

static bool
StillInGrace(const ParsedKey *key, const LockedKey *locked)
{
	Oid			argtypes[2] = {TEXTOID, UUIDOID};
	Datum		args[2];
	int			ret;

	args[0] = TokenOf(key->token);
	args[1] = locked->key_id;
	ret = SPI_execute_plan(KeptPlan(&still_plan,
									"SELECT 1 FROM keymgmt.previous_tokens p"
									" WHERE p.token OPERATOR(pg_catalog.=) $1"
									" AND p.key_id OPERATOR(pg_catalog.=) $2"
									" AND p.valid_until OPERATOR(pg_catalog.>) pg_catalog.now()",
									2, argtypes),
						   args, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "keymgmt: checking a previous secret failed: %s",
			 SPI_result_code_string(ret));
	return SPI_processed == 1;
}

/*
 * WaitForToken
 *	  import_key: wait for a change of the key that has token now (a
 *	  rotation moving it to previous_tokens), so that the insert, a new
 *	  statement, sees where the token went.  FOR KEY SHARE also keeps a
 *	  rotation from starting until we are done.
 */
static SPIPlanPtr wait_plan = NULL;

static void
WaitForToken(const char *token)
{
	Oid			argtype = TEXTOID;
	Datum		arg = TokenOf(token);
	int			ret;

	ret = SPI_execute_plan(KeptPlan(&wait_plan,
									"SELECT 1 FROM keymgmt.keys k"
									" WHERE k.token OPERATOR(pg_catalog.=) $1"
									" FOR KEY SHARE OF k",
									1, &argtype),
						   &arg, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "keymgmt: waiting for a key failed: %s",
			 SPI_result_code_string(ret));
}

/*
 * FindKeyRow
 *	  Find one key's row, and lock it in the same statement (strength);
 *	  false when there is none.  Must run inside SPI_connect().
 *
 * A raw key or token that is no key's token may be a previous secret still
 * in its grace: that is looked for only when the first probe missed.  In
 * READ COMMITTED a caller that waited for the lock gets the committed
 * outcome of the other transaction (the newer row, or none).
 */
bool
FindKeyRow(const ParsedKey *key, LockStrength strength, LockedKey *out)
{
	int			lookup = key->is_key_id ? BY_KEY_ID : BY_TOKEN;
	Datum		arg;

	for (;;)
	{
		Oid			argtype = (lookup == BY_KEY_ID) ? UUIDOID : TEXTOID;
		int			ret;

		if (lock_plans[lookup][strength] == NULL)
			KeptPlan(&lock_plans[lookup][strength],
					 psprintf(LOCK_COLUMNS ", k FROM keymgmt.keys k WHERE %s%s",
							  lock_conditions[lookup], lock_clauses[strength]),
					 1, &argtype);
		arg = (lookup == BY_KEY_ID) ? UUIDPGetDatum(&key->key_id)
			: TokenOf(key->token);
		ret = SPI_execute_plan(lock_plans[lookup][strength], &arg, NULL,
							   strength == LOCK_NONE, 1);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "keymgmt: locking a key failed: %s",
				 SPI_result_code_string(ret));
		if (SPI_processed == 1)
		{
			ReadLocked(SPI_tuptable, 0, out);
			return lookup != BY_PREVIOUS || strength == LOCK_NONE ||
				StillInGrace(key, out);
		}
		if (lookup != BY_TOKEN || !SchemaIsCurrent())
			return false;
		lookup = BY_PREVIOUS;
	}
}

/*
 * Authorize
 *	  May the actor do this change to this locked key?  Raises 42501.
 *
 * memory (bulk changes) remembers the scopes already allowed, so a team's
 * keys are checked against keymgmt.admins once, not once per key.
 */
static void
Authorize(const KeyChange *c, const LockedKey *key, const char *shown,
		  ScopeMemory *memory)
{
	const Actor *actor = c->actor;
	int			i;

	if (memory == NULL)
	{
		CheckAuthority(actor, c->caller, c->what, c->verb, c->owner_may,
					   shown, &key->scope);
		return;
	}

	if (!actor->given)
	{
		if (!memory->required_checked)
			CheckAuthority(actor, c->caller, c->what, c->verb, c->owner_may,
						   shown, &key->scope);
		memory->required_checked = true;
		return;
	}
	if (c->owner_may && key->scope.user_id != NULL && actor->name[0] != '\0' &&
		strcmp(key->scope.user_id, actor->name) == 0)
		return;
	for (i = 0; i < memory->n; i++)
		if (SameText(memory->team_id[i], key->scope.team_id) &&
			SameText(memory->organization_id[i], key->scope.organization_id))
			return;

	CheckAuthority(actor, c->caller, c->what, c->verb, c->owner_may, shown,
				   &key->scope);
	if (memory->n < SCOPES_REMEMBERED)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(GetMemoryChunkContext(memory));

		memory->team_id[memory->n] = key->scope.team_id ?
			pstrdup(key->scope.team_id) : NULL;
		memory->organization_id[memory->n] = key->scope.organization_id ?
			pstrdup(key->scope.organization_id) : NULL;
		memory->n++;
		MemoryContextSwitchTo(oldcxt);
	}
}

/* the guarded write's arguments and result */
typedef struct GuardedWrite
{
	KeyChange  *c;
	Datum	   *args;
	char	   *nulls;
	int			ret;
} GuardedWrite;

static void
RunWrite(void *arg)
{
	GuardedWrite *w = (GuardedWrite *) arg;

	w->ret = SPI_execute_plan(*w->c->write_plan, w->args, w->nulls, false, 0);
}

static bool
IsUniqueViolation(int sqlerrcode)
{
	return sqlerrcode == ERRCODE_UNIQUE_VIOLATION;
}

/*
 * ExecuteGuarded
 *	  Run the write in a subtransaction, so that a unique violation (a
 *	  concurrent transaction took the alias) is reported as the change
 *	  reports it, not with the index's message and our statement.
 */
static int
ExecuteGuarded(KeyChange *c, Datum *args, char *nulls)
{
	GuardedWrite w = {c, args, nulls, 0};

	if (!TryInSubtransaction(RunWrite, &w, IsUniqueViolation))
		c->conflict(c);
	return w.ret;
}

/*
 * Write
 *	  The change's one statement for the keys whose tokens are given, then
 *	  one notification per row it returns, and the rows for the result.
 */
static void
Write(KeyChange *c, Datum *tokens, int ntokens)
{
	Oid			argtypes[4 + KEYMGMT_CHANGE_MAX_EXTRA] = {TEXTARRAYOID,
	TIMESTAMPTZOID, TEXTOID, TEXTOID};
	Datum		args[4 + KEYMGMT_CHANGE_MAX_EXTRA];
	char		nulls[4 + KEYMGMT_CHANGE_MAX_EXTRA];
	int			nargs = 4 + c->nextra;
	MemoryContext cxt = CurrentMemoryContext;
	TupleDesc	desc;
	uint64		i;
	int			ret;

	memcpy(argtypes + 4, c->extra_types, c->nextra * sizeof(Oid));
	memcpy(args + 4, c->extra, c->nextra * sizeof(Datum));
	memset(nulls, ' ', 4);
	memcpy(nulls + 4, c->extra_nulls, c->nextra);
	args[0] = PointerGetDatum(construct_array(tokens, ntokens, TEXTOID, -1,
											  false, TYPALIGN_INT));
	args[1] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	args[2] = CStringGetTextDatum(c->actor->name);
	args[3] = CStringGetTextDatum(CallerRoleName(c->caller));

	KeptPlan(c->write_plan, c->write_sql, nargs, argtypes);
	if (c->guard_unique)
		ret = ExecuteGuarded(c, args, nulls);
	else
		ret = SPI_execute_plan(*c->write_plan, args, nulls, false, 0);
	MemoryContextSwitchTo(cxt);	/* SPI returned to its own */
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "keymgmt: %s failed to write: %s", c->what,
			 SPI_result_code_string(ret));
	if (SPI_processed == 0 && c->target == TARGET_NEW)
		c->conflict(c);

	desc = SPI_tuptable->tupdesc;
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		bool		isnull;
		Datum		row = SPI_getbinval(tuple, desc, 1, &isnull);
		char	   *token = SPI_getvalue(tuple, desc, 2);

		NotifyKeyChange(c->action, token, SPI_getbinval(tuple, desc, 3, &isnull));
		if (c->store != NULL)
			PutRow(c->store, row);
		else if (!c->has_row)
		{
			c->row = SPI_datumTransfer(row, false, -1);
			c->has_row = true;
		}
	}
	c->nwritten += SPI_processed;
	SPI_freetuptable(SPI_tuptable);
}

/*
 * ChangeMatching
 *	  A bulk change: every key matching the filters that is not yet in the
 *	  wanted state, locked in key_id order through a cursor, checked and
 *	  written a batch at a time.  All or nothing: a refusal (42501) on any
 *	  key aborts what earlier batches wrote, with the rest of the statement.
 */
static void
ChangeMatching(KeyChange *c)
{
	static const char *const columns[3] = {"user_id", "team_id", "organization_id"};
	const char *values[3] = {c->scope.user_id, c->scope.team_id,
	c->scope.organization_id};
	Oid			argtypes[4] = {TEXTOID, TEXTOID, TEXTOID, BOOLOID};
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	int			mask = 0;
	int			i;
	Portal		cursor;
	ScopeMemory *memory = palloc0(sizeof(ScopeMemory));
	MemoryContext batchcxt;
	MemoryContext oldcxt;

	for (i = 0; i < 3; i++)
	{
		if (values[i] != NULL)
			mask |= 1 << i;
		args[i] = values[i] ? CStringGetTextDatum(values[i]) : (Datum) 0;
		nulls[i] = values[i] ? ' ' : 'n';
	}
	args[3] = BoolGetDatum(c->want_blocked);
	if (mask == 0)
		elog(ERROR, "keymgmt: a bulk change without a filter");
	/* no actor where one is required: 42501 even when nothing matches */
	if (!c->actor->given)
	{
		RequireActor(c->actor, c->caller, c->what);
		memory->required_checked = true;
	}

	if (matching_plans[mask] == NULL)
	{
		StringInfoData sql;

		initStringInfo(&sql);
		appendStringInfoString(&sql, LOCK_COLUMNS " FROM keymgmt.keys k WHERE");
		for (i = 0; i < 3; i++)
			if (mask & (1 << i))
				appendStringInfo(&sql, " k.%s OPERATOR(pg_catalog.=) $%d AND",
								 columns[i], i + 1);
		/*
		 * key_id order, not token order: a rotation changes a key's token,
		 * so two bulk changes whose snapshots straddle one would lock that
		 * key at different places in token order, and could deadlock.
		 */
		appendStringInfoString(&sql,
							   " k.blocked OPERATOR(pg_catalog.<>) $4"
							   " ORDER BY k.key_id FOR NO KEY UPDATE OF k");
		KeptPlan(&matching_plans[mask], sql.data, 4, argtypes);
	}

	cursor = SPI_cursor_open(NULL, matching_plans[mask], args, nulls, false);
	batchcxt = AllocSetContextCreate(CurrentMemoryContext, "keymgmt batch",
									 ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		SPITupleTable *locked;
		Datum	   *tokens;
		int			n;

		/*
		 * Everything of one batch goes into batchcxt, emptied for the next.
		 * Every SPI call returns to SPI's procedure context: switch back.
		 */
		MemoryContextReset(batchcxt);
		SPI_cursor_fetch(cursor, true, CHANGE_BATCH);
		oldcxt = MemoryContextSwitchTo(batchcxt);
		locked = SPI_tuptable;
		n = (int) SPI_processed;
		tokens = palloc(Max(n, 1) * sizeof(Datum));
		for (i = 0; i < n; i++)
		{
			LockedKey	key;

			ReadLocked(locked, i, &key);
			Authorize(c, &key, psprintf("%.12s...", key.token), memory);
			MemoryContextSwitchTo(batchcxt);
			tokens[i] = TokenOf(key.token);
		}
		SPI_freetuptable(locked);
		if (n > 0)
			Write(c, tokens, n);
		MemoryContextSwitchTo(oldcxt);
		if (n < CHANGE_BATCH)
			break;
	}
	SPI_cursor_close(cursor);
	MemoryContextDelete(batchcxt);
}

/*
 * RunKeyChange
 *	  Lock, authorise, decide and write one change (see the head of this
 *	  file).  Leaves in *c the row to return (one key: as it now is, or as
 *	  it was for delete, or the locked row for a no-op) and how many rows
 *	  the write returned.
 */
void
RunKeyChange(KeyChange *c)
{
	LockedKey	key;

	PreventCommandIfReadOnly(c->what);	/* also on a standby */
	RequireCurrentSchema(c->what);
	c->has_row = false;
	c->nwritten = 0;

	SPI_connect();
	switch (c->target)
	{
		case TARGET_NEW:
			CheckCreateAuthority(c->actor, c->caller, c->what, &c->scope);
			if (c->key != NULL)	/* import_key: a token that exists elsewhere */
				WaitForToken(c->key->token);
			Write(c, NULL, 0);
			break;

		case TARGET_KEY:
			if (!FindKeyRow(c->key, c->exclusive ? LOCK_ROW_EXCLUSIVE : LOCK_ROW,
							&key))
				ReportKeyNotFound(c->key);
			Authorize(c, &key, c->key->display, NULL);
			if (c->changes == NULL || c->changes(c, &key))
			{
				Datum		token = TokenOf(key.token);

				Write(c, &token, 1);
			}
			if (!c->has_row)	/* nothing changed: no audit, no message */
			{
				c->row = SPI_datumTransfer(key.row, false, -1);
				c->has_row = true;
			}
			break;

		case TARGET_MATCHING:
			ChangeMatching(c);
			break;
	}
	SPI_finish();
}
