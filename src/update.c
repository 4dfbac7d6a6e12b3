/*-------------------------------------------------------------------------
 *
 * update.c
 *	  update_key: change a key's alias, owner, team, organization, expiry
 *	  or metadata.
 *
 * The changes are a JSON object naming the fields to change; a field
 * absent is left alone, JSON null clears it.  Values are compared with the
 * locked row as values (a timestamp in another zone, jsonb with its keys in
 * another order): a change that changes nothing is a no-op.  Authority is
 * as for unblock on the row before (the owner may not), and when the key
 * moves to another team or organization, also on where it goes.
 *
 *-------------------------------------------------------------------------
 */
#include "keymgmt.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

PG_FUNCTION_INFO_V1(update_key);

/* the updatable fields, in the order of the write's parameters $5 to $10 */
enum
{
	F_KEY_ALIAS, F_USER_ID, F_TEAM_ID, F_ORGANIZATION_ID, F_EXPIRES,
	F_METADATA, N_FIELDS
};

static const char *const field_names[N_FIELDS] = {
	"key_alias", "user_id", "team_id", "organization_id", "expires", "metadata"
};

typedef struct Changes
{
	bool		given[N_FIELDS];
	bool		isnull[N_FIELDS];
	Datum		value[N_FIELDS];
	const char *shown;			/* the key in messages */
} Changes;

static SPIPlanPtr update_plan = NULL;

/*
 * $5 key_alias .. $10 metadata: the row's new values; $11 text[] the names
 * of the columns that do not change: the new row without them is the audit
 * row's updated_values.
 */
#define UPDATE_SQL \
	"WITH upd AS (" \
	"  UPDATE keymgmt.keys k SET key_alias = $5, user_id = $6, team_id = $7," \
	"    organization_id = $8, expires = $9, metadata = $10," \
	"    updated_at = $2, updated_by = $3" \
	"  FROM keymgmt.keys o" \
	"  WHERE k.token OPERATOR(pg_catalog.=) ANY ($1)" \
	"    AND o.token OPERATOR(pg_catalog.=) k.token" \
	"  RETURNING k, pg_catalog.to_jsonb(o) AS before" \
	"), aud AS (" \
	"  INSERT INTO keymgmt.audit_log (object_type, changed_at, action, object_id," \
	"    key_id, changed_by, db_role, before_value, updated_values)" \
	"  SELECT 'key', $2, 'updated', (upd.k).token, (upd.k).key_id, $3, $4," \
	"    upd.before, pg_catalog.to_jsonb(upd.k) OPERATOR(pg_catalog.-) $11" \
	"  FROM upd" \
	") SELECT upd.k, (upd.k).token, (upd.k).key_id FROM upd"

pg_noreturn static void
RefuseChanges(const char *message, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg_internal("%s", message),
			 detail ? errdetail_internal("%s", detail) : 0,
			 errhint("update_key changes key_alias, user_id, team_id, organization_id, expires and metadata.")));
}

/*
 * ParseExpires
 *	  A timestamp string as timestamptz; anything that does not parse is
 *	  22023 (not timestamptz_in's own codes), its text not repeated.
 */
typedef struct ExpiresText
{
	const char *text;
	Datum		value;
} ExpiresText;

static void
ParseTimestamp(void *arg)
{
	ExpiresText *e = (ExpiresText *) arg;

	e->value = DirectFunctionCall3(timestamptz_in, CStringGetDatum(e->text),
								   ObjectIdGetDatum(InvalidOid),
								   Int32GetDatum(-1));
}

/* what does not parse is the caller's; anything else is ours */
static bool
IsDataException(int sqlerrcode)
{
	return ERRCODE_TO_CATEGORY(sqlerrcode) == ERRCODE_DATA_EXCEPTION;
}

static Datum
ParseExpires(const char *s)
{
	ExpiresText e = {s, (Datum) 0};

	/* in a subtransaction, so that any error it raises is undone cleanly */
	if (!TryInSubtransaction(ParseTimestamp, &e, IsDataException))
		RefuseChanges("expires must be a timestamp or null",
					  "The value given does not parse as a timestamp with time zone; it is not repeated here.");
	return e.value;
}

/*
 * ReadChanges
 *	  Parse the changes object into *out (22004, 22023).
 */
static void
ReadChanges(FunctionCallInfo fcinfo, int argno, Changes *out)
{
	Jsonb	   *changes;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			named = 0;

	memset(out, 0, sizeof(*out));
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("changes must not be null")));
	changes = PG_GETARG_JSONB_P(argno);
	if (!JB_ROOT_IS_OBJECT(changes))
		RefuseChanges("changes must be a JSON object", NULL);

	it = JsonbIteratorInit(&changes->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *name;
		int			f;

		if (tok != WJB_KEY)
			continue;
		name = pnstrdup(v.val.string.val, v.val.string.len);
		for (f = 0; f < N_FIELDS && strcmp(name, field_names[f]) != 0; f++)
			;
		if (strcmp(name, "blocked") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("update_key does not change \"blocked\""),
					 errhint("Use block_key or unblock_key: they are audited as blocked and unblocked.")));
		if (f == N_FIELDS)
		{
			if (KeyIsEmbedded(name, strlen(name)))
				RefuseChanges("changes names a field that update_key does not change",
							  "The field's name holds an API key; it is not repeated here.");
			RefuseChanges(psprintf("changes names unknown field \"%s\"",
								   ClipForMessage(name)), NULL);
		}

		tok = JsonbIteratorNext(&it, &v, true);
		Assert(tok == WJB_VALUE);
		out->given[f] = true;
		out->isnull[f] = (v.type == jbvNull);
		named++;
		if (v.type == jbvNull)
		{
			if (f == F_METADATA)
				RefuseChanges("metadata cannot be null",
							  "Use {} for a key without metadata.");
			continue;
		}
		switch (f)
		{
			case F_EXPIRES:
				if (v.type != jbvString)
					RefuseChanges("expires must be a timestamp or null", NULL);
				out->value[f] = ParseExpires(pnstrdup(v.val.string.val,
													  v.val.string.len));
				break;
			case F_METADATA:
				if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
					RefuseChanges("metadata must be a JSON object", NULL);
				out->value[f] = JsonbPGetDatum(JsonbValueToJsonb(&v));
				break;
			default:
				{
					char	   *s;

					if (v.type != jbvString)
						RefuseChanges(psprintf("%s must be a string or null",
											   field_names[f]), NULL);
					s = pnstrdup(v.val.string.val, v.val.string.len);
					CheckName(field_names[f], s);
					out->value[f] = CStringGetTextDatum(s);
				}
				break;
		}
	}
	if (named == 0)
		RefuseChanges("changes must name at least one field", NULL);
}

/*
 * UnchangedColumns
 *	  The names of row's columns (keymgmt.keys, as it is) that are not in
 *	  changed, as a text[].
 */
static Datum
UnchangedColumns(HeapTupleHeader row, Datum *changed, int nchanged)
{
	TupleDesc	desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(row),
											  HeapTupleHeaderGetTypMod(row));
	Datum	   *names = palloc(desc->natts * sizeof(Datum));
	int			n = 0;
	int			i;
	int			j;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		bool		is_changed = false;

		if (att->attisdropped)
			continue;
		for (j = 0; j < nchanged && !is_changed; j++)
			is_changed = strcmp(NameStr(att->attname),
								TextDatumGetCString(changed[j])) == 0;
		if (!is_changed)
			names[n++] = CStringGetTextDatum(NameStr(att->attname));
	}
	ReleaseTupleDesc(desc);
	return PointerGetDatum(construct_array(names, n, TEXTOID, -1, false,
										   TYPALIGN_INT));
}

/* do two values of field f differ? */
static bool
Differs(int f, Datum a, bool anull, Datum b, bool bnull)
{
	if (anull || bnull)
		return anull != bnull;
	switch (f)
	{
		case F_EXPIRES:
			return DatumGetTimestampTz(a) != DatumGetTimestampTz(b);
		case F_METADATA:
			return !DatumGetBool(DirectFunctionCall2(jsonb_eq, a, b));
		default:
			/* equal bytes: what the unique index on key_alias compares */
			return !DatumGetBool(DirectFunctionCall2Coll(texteq, C_COLLATION_OID,
														 a, b));
	}
}

/*
 * UpdateChanges
 *	  The row's new values (extra parameters), and whether any differs from
 *	  the locked row.  A key that moves to another team or organization
 *	  must be one the actor may put there.
 */
static bool
UpdateChanges(KeyChange *c, LockedKey *key)
{
	Changes    *ch = (Changes *) c->arg;
	HeapTupleHeader row = DatumGetHeapTupleHeader(key->row);
	Datum		changed[N_FIELDS];
	int			nchanged = 0;
	bool		moved = false;
	int			f;

	for (f = 0; f < N_FIELDS; f++)
	{
		bool		oldnull;
		Datum		old = GetAttributeByName(row, field_names[f], &oldnull);

		c->extra_types[f] = (f == F_EXPIRES) ? TIMESTAMPTZOID :
			(f == F_METADATA) ? JSONBOID : TEXTOID;
		if (ch->given[f] &&
			Differs(f, ch->value[f], ch->isnull[f], old, oldnull))
		{
			c->extra[f] = ch->value[f];
			c->extra_nulls[f] = ch->isnull[f] ? 'n' : ' ';
			changed[nchanged++] = CStringGetTextDatum(field_names[f]);
			if (f == F_TEAM_ID || f == F_ORGANIZATION_ID)
				moved = true;
			if (f == F_KEY_ALIAS && !ch->isnull[f])
				c->guard_unique = true;
		}
		else
		{
			c->extra[f] = old;
			c->extra_nulls[f] = oldnull ? 'n' : ' ';
		}
	}

	if (moved)
	{
		KeyScope	after = key->scope;

		after.team_id = c->extra_nulls[F_TEAM_ID] == 'n' ? NULL :
			TextDatumGetCString(c->extra[F_TEAM_ID]);
		after.organization_id = c->extra_nulls[F_ORGANIZATION_ID] == 'n' ? NULL :
			TextDatumGetCString(c->extra[F_ORGANIZATION_ID]);
		CheckMoveAuthority(c->actor, c->caller, ch->shown, &after);
	}
	if (nchanged == 0)
		return false;

	c->extra_types[N_FIELDS] = TEXTARRAYOID;
	c->extra[N_FIELDS] = UnchangedColumns(row, changed, nchanged);
	c->extra_nulls[N_FIELDS] = ' ';
	return true;
}

static void
UpdateConflict(KeyChange *c)
{
	Changes    *ch = (Changes *) c->arg;

	ReportAliasTaken(TextDatumGetCString(ch->value[F_KEY_ALIAS]));
}

/*
 * update_key(key text, changes jsonb, actor text DEFAULT NULL)
 *		RETURNS keymgmt.keys
 *	  Returns the row as it now is.
 */
Datum
update_key(PG_FUNCTION_ARGS)
{
	KeyChange	c = {0};
	Changes		changes;
	Caller		caller;
	ParsedKey	key;
	Actor		actor;

	CallerEnter(fcinfo, &caller);
	ParseKeyArgument(fcinfo, 0, &key);
	ReadChanges(fcinfo, 1, &changes);
	changes.shown = key.display;
	ResolveActor(fcinfo, 2, &caller, &actor);

	c.what = "update_key()";
	c.verb = "update";
	c.action = "updated";
	c.owner_may = false;
	/* key_alias is in a unique index: changing it takes the stronger lock */
	c.exclusive = changes.given[F_KEY_ALIAS];
	c.changes = UpdateChanges;
	c.conflict = UpdateConflict;
	c.write_sql = UPDATE_SQL;
	c.write_plan = &update_plan;
	c.nextra = N_FIELDS + 1;
	c.arg = &changes;
	c.caller = &caller;
	c.actor = &actor;
	c.target = TARGET_KEY;
	c.key = &key;
	RunKeyChange(&c);

	CallerLeave(&caller);
	PG_RETURN_DATUM(c.row);
}
