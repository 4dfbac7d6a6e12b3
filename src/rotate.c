/*-------------------------------------------------------------------------
 *
 * rotate.c
 *	  rotate_key and end_grace: a key's new secret, and the previous
 *	  secrets that keep working for a grace period.
 *
 * Rotation gives the key a new raw key (made as generate_key makes them)
 * and a new token and key_name; everything else, the key_id included,
 * stays.  The old token goes to keymgmt.previous_tokens until
 * least(now() + grace, expires), or nowhere when that is not in the future.
 * A rotation never lengthens an earlier previous secret's grace and cuts
 * every one to the new end, so rotate_key(k, '0') ends them all at once;
 * previous secrets whose grace is over are removed on the way.
 *
 *-------------------------------------------------------------------------
 */
#include "keymgmt.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "datatype/timestamp.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(rotate_key);
PG_FUNCTION_INFO_V1(end_grace);

static SPIPlanPtr rotate_plan = NULL;
static SPIPlanPtr end_grace_plan = NULL;

/*
 * $5 new token, $6 new key_name, $7 the old secret's valid_until (null:
 * not kept, and every earlier one ends now).  An old token can only meet a
 * previous_tokens row of its own whose grace is over (imports refuse the
 * ones still in grace): that row is taken over.
 */
#define ROTATE_SQL \
	"WITH upd AS (" \
	"  UPDATE keymgmt.keys k SET token = $5, key_name = $6, updated_at = $2," \
	"    updated_by = $3" \
	"  FROM keymgmt.keys o" \
	"  WHERE k.token OPERATOR(pg_catalog.=) ANY ($1)" \
	"    AND o.token OPERATOR(pg_catalog.=) k.token" \
	"  RETURNING k, o.token AS old_token, pg_catalog.to_jsonb(o) AS before" \
	"), lapsed AS (" \
	"  DELETE FROM keymgmt.previous_tokens p USING upd" \
	"  WHERE p.key_id OPERATOR(pg_catalog.=) (upd.k).key_id" \
	"    AND (p.valid_until OPERATOR(pg_catalog.<=) $2 OR $7 IS NULL)" \
	"), shortened AS (" \
	"  UPDATE keymgmt.previous_tokens p SET valid_until = $7 FROM upd" \
	"  WHERE p.key_id OPERATOR(pg_catalog.=) (upd.k).key_id" \
	"    AND p.valid_until OPERATOR(pg_catalog.>) $7" \
	"), kept AS (" \
	"  INSERT INTO keymgmt.previous_tokens AS p (token, key_id, valid_until)" \
	"  SELECT upd.old_token, (upd.k).key_id, $7 FROM upd WHERE $7 IS NOT NULL" \
	"  ON CONFLICT (token) DO UPDATE SET key_id = excluded.key_id," \
	"    valid_until = excluded.valid_until" \
	"), aud AS (" \
	"  INSERT INTO keymgmt.audit_log (object_type, changed_at, action, object_id," \
	"    key_id, changed_by, db_role, before_value, updated_values)" \
	"  SELECT 'key', $2, 'rotated', upd.old_token, (upd.k).key_id, $3, $4," \
	"    upd.before, pg_catalog.jsonb_build_object('token', $5, 'key_name', $6)" \
	"  FROM upd" \
	") SELECT upd.k, upd.old_token, (upd.k).key_id FROM upd"

/*
 * Every previous secret still in its grace goes; the key's row records who
 * ended it.  Nothing in grace: no row is written or returned.  One row
 * comes back per ended secret, with its token, for its notification.
 */
#define END_GRACE_SQL \
	"WITH ended AS (" \
	"  DELETE FROM keymgmt.previous_tokens p USING keymgmt.keys k" \
	"  WHERE k.token OPERATOR(pg_catalog.=) ANY ($1)" \
	"    AND p.key_id OPERATOR(pg_catalog.=) k.key_id" \
	"    AND p.valid_until OPERATOR(pg_catalog.>) $2" \
	"  RETURNING p.token, p.key_id" \
	"), upd AS (" \
	"  UPDATE keymgmt.keys k SET updated_at = $2, updated_by = $3" \
	"  FROM keymgmt.keys o" \
	"  WHERE k.token OPERATOR(pg_catalog.=) ANY ($1)" \
	"    AND o.token OPERATOR(pg_catalog.=) k.token" \
	"    AND EXISTS (SELECT 1 FROM ended)" \
	"  RETURNING k, pg_catalog.to_jsonb(o) AS before" \
	"), aud AS (" \
	"  INSERT INTO keymgmt.audit_log (object_type, changed_at, action, object_id," \
	"    key_id, changed_by, db_role, before_value, updated_values)" \
	"  SELECT 'key', $2, 'grace_ended', (upd.k).token, (upd.k).key_id, $3, $4," \
	"    upd.before, pg_catalog.jsonb_build_object('previous_secrets'," \
	"      (SELECT pg_catalog.count(*) FROM ended))" \
	"  FROM upd" \
	") SELECT upd.k, e.token, e.key_id FROM upd, ended e"

/*
 * RotateChanges
 *	  When the old secret stops: least(now() + grace, expires), null when
 *	  that is not in the future.  A rotation always changes the key.
 */
static bool
RotateChanges(KeyChange *c, LockedKey *key)
{
	TimestampTz until = *(TimestampTz *) c->arg;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	bool		noexpiry;
	Datum		expires = GetAttributeByName(DatumGetHeapTupleHeader(key->row),
											 "expires", &noexpiry);

	if (!noexpiry && DatumGetTimestampTz(expires) < until)
		until = DatumGetTimestampTz(expires);
	c->extra_types[2] = TIMESTAMPTZOID;
	c->extra[2] = TimestampTzGetDatum(until);
	c->extra_nulls[2] = (until > now) ? ' ' : 'n';
	return true;
}

/*
 * GraceEnd
 *	  now() + grace, or infinity when that is past the last timestamp
 *	  PostgreSQL has (about 294,000 years from now): a grace that long ends
 *	  with the key's expiry, if it has one, as every grace does.
 */
static TimestampTz
GraceEnd(TimestampTz now, Datum grace)
{
	Interval   *span = DatumGetIntervalP(grace);
	double		years = span->month / 12.0 + span->day / 365.25 +
		(double) span->time / USECS_PER_DAY / 365.25;

	if (years > 200000.0)
		return DT_NOEND;
	return DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
												   TimestampTzGetDatum(now),
												   grace));
}

/*
 * rotate_key(key text, grace interval DEFAULT '0', actor text DEFAULT NULL)
 *		RETURNS TABLE(key text, token text, key_name text, key_id uuid,
 *					  previous_valid_until timestamptz)
 *	  A new secret for the key, returned this once; the old one keeps
 *	  working until previous_valid_until.  Authority as for block: the
 *	  owner may rotate their own key.
 */
Datum
rotate_key(PG_FUNCTION_ARGS)
{
	KeyChange	c = {0};
	Caller		caller;
	ParsedKey	key;
	Actor		actor;
	Datum		grace;
	TimestampTz grace_end;
	char	   *raw;
	char		token[KEYMGMT_TOKEN_LEN + 1];
	char		name[KEYMGMT_DISPLAY_LEN];
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	bool		isnull;

	CallerEnter(fcinfo, &caller);
	CheckOneRowContext(fcinfo);
	ParseKeyArgument(fcinfo, 0, &key);
	NullArgument(fcinfo, 1, "grace");
	grace = PG_GETARG_DATUM(1);
	if (DatumGetBool(DirectFunctionCall2(interval_lt, grace,
										 DirectFunctionCall3(interval_in,
															 CStringGetDatum("0"),
															 ObjectIdGetDatum(InvalidOid),
															 Int32GetDatum(-1)))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("grace must not be negative"),
				 errhint("Use '0' for an old secret that stops working at once.")));
	grace_end = GraceEnd(GetCurrentTransactionStartTimestamp(), grace);
	ResolveActor(fcinfo, 2, &caller, &actor);

	raw = KeyGenerate();
	KeyHash(raw, strlen(raw), token);
	KeyName(raw, strlen(raw), name);

	c.what = "rotate_key()";
	c.verb = "rotate";
	c.action = "rotated";
	c.owner_may = true;
	c.exclusive = true;			/* the token, the primary key, changes */
	c.changes = RotateChanges;
	c.write_sql = ROTATE_SQL;
	c.write_plan = &rotate_plan;
	c.nextra = 3;
	c.extra_types[0] = TEXTOID;
	c.extra[0] = TokenOf(token);
	c.extra_types[1] = TEXTOID;
	c.extra[1] = CStringGetTextDatum(name);
	memset(c.extra_nulls, ' ', sizeof(c.extra_nulls));
	c.arg = &grace_end;
	c.caller = &caller;
	c.actor = &actor;
	c.target = TARGET_KEY;
	c.key = &key;
	PG_TRY();
	{
		RunKeyChange(&c);
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
	values[3] = GetAttributeByName(DatumGetHeapTupleHeader(c.row), "key_id",
								   &isnull);
	values[4] = c.extra[2];
	nulls[4] = c.extra_nulls[2] == 'n';
	ReturnOneRow(fcinfo, values, nulls);

	explicit_bzero(raw, strlen(raw));
	explicit_bzero(VARDATA(DatumGetPointer(values[0])),
				   VARSIZE(DatumGetPointer(values[0])) - VARHDRSZ);
	return (Datum) 0;
}

/*
 * end_grace(key text, actor text DEFAULT NULL) RETURNS integer
 *	  End now the grace of every previous secret of the key; returns how
 *	  many were still in grace (0: a no-op).  Authority as for block.
 */
Datum
end_grace(PG_FUNCTION_ARGS)
{
	KeyChange	c = {0};
	Caller		caller;
	ParsedKey	key;
	Actor		actor;

	CallerEnter(fcinfo, &caller);
	ParseKeyArgument(fcinfo, 0, &key);
	ResolveActor(fcinfo, 1, &caller, &actor);

	c.what = "end_grace()";
	c.verb = "end the grace of";
	c.action = "grace_ended";
	c.owner_may = true;
	c.exclusive = false;
	c.write_sql = END_GRACE_SQL;
	c.write_plan = &end_grace_plan;
	c.caller = &caller;
	c.actor = &actor;
	c.target = TARGET_KEY;
	c.key = &key;
	RunKeyChange(&c);

	CallerLeave(&caller);
	PG_RETURN_INT32((int32) c.nwritten);
}
