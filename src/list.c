/*-------------------------------------------------------------------------
 *
 * list.c
 *	  list_keys: one page of keys, for an admin page.
 *
 * Read-only, no lock.  Pages are in key_id order (creation order), and the
 * next page starts after the last key_id of the previous one, whether that
 * key still exists or not (keyset pagination: no OFFSET, each page one
 * index range).  With an actor, only the keys the actor may manage or owns
 * (the authority rules as an SQL condition, authority.c).  Each
 * combination of filters has its own kept plan, so every page is planned
 * for the filters it has rather than with "($1 IS NULL OR ...)".
 *
 *-------------------------------------------------------------------------
 */
#include "keymgmt.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(list_keys);

#define LIST_MAX_ROWS 1000

/* filter bits: user, team, organization, after, actor; then 2 bits of status */
#define LIST_NFILTERS 5
static SPIPlanPtr list_plans[1 << (LIST_NFILTERS + 2)];

static const char *const filter_conditions[LIST_NFILTERS] = {
	" AND k.user_id OPERATOR(pg_catalog.=) $1",
	" AND k.team_id OPERATOR(pg_catalog.=) $2",
	" AND k.organization_id OPERATOR(pg_catalog.=) $3",
	" AND k.key_id OPERATOR(pg_catalog.>) $4",
	NULL,						/* the actor: AdminScopeCondition(5) */
};

/* status as verify_key computes it: blocked first, then expired */
static const char *const statuses[4] = {NULL, "valid", "blocked", "expired"};
static const char *const status_conditions[4] = {
	"",
	" AND NOT k.blocked AND (k.expires IS NULL"
	" OR k.expires OPERATOR(pg_catalog.>) pg_catalog.now())",
	" AND k.blocked",
	" AND NOT k.blocked AND k.expires OPERATOR(pg_catalog.<=) pg_catalog.now()",
};

/*
 * ListPlan
 *	  The kept plan for one combination of filters.
 */
static SPIPlanPtr
ListPlan(int mask, int status)
{
	Oid			argtypes[6] = {TEXTOID, TEXTOID, TEXTOID, UUIDOID, TEXTOID, INT4OID};
	int			slot = mask | (status << LIST_NFILTERS);
	StringInfoData sql;
	int			i;

	if (list_plans[slot] != NULL)
		return list_plans[slot];
	initStringInfo(&sql);
	/* k.*, not k: SPI's tuples are then rows of keymgmt.keys as they are */
	appendStringInfoString(&sql, "SELECT k.* FROM keymgmt.keys k WHERE true");
	for (i = 0; i < LIST_NFILTERS; i++)
		if (mask & (1 << i))
		{
			if (filter_conditions[i])
				appendStringInfoString(&sql, filter_conditions[i]);
			else
				appendStringInfo(&sql, " AND %s", AdminScopeCondition(5));
		}
	appendStringInfoString(&sql, status_conditions[status]);
	appendStringInfoString(&sql, " ORDER BY k.key_id LIMIT $6");
	return KeptPlan(&list_plans[slot], sql.data, 6, argtypes);
}

/*
 * list_keys(user_id, team_id, organization_id, status, after uuid,
 *			 max_rows integer DEFAULT 100, actor) RETURNS SETOF keymgmt.keys
 */
Datum
list_keys(PG_FUNCTION_ARGS)
{
	static const char *const names[3] = {"user_id", "team_id", "organization_id"};
	Datum		args[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	Caller		caller;
	Actor		actor;
	TupleDesc	desc;
	Tuplestorestate *store;
	int			mask = 0;
	int			status = 0;
	int32		max_rows;
	uint64		i;
	int			ret;

	CallerEnter(fcinfo, &caller);
	for (i = 0; i < 3; i++)
	{
		char	   *id = NameArgument(fcinfo, i, names[i]);

		args[i] = id ? CStringGetTextDatum(id) : (Datum) 0;
		nulls[i] = id ? ' ' : 'n';
		if (id)
			mask |= 1 << i;
	}
	if (!PG_ARGISNULL(3))
	{
		char	   *s = TextDatumGetCString(PG_GETARG_DATUM(3));

		for (status = 1; status < 4 && strcmp(s, statuses[status]) != 0; status++)
			;
		if (status == 4)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("status must be valid, blocked, expired or null"),
					 errdetail("The value given is not repeated here.")));
	}
	args[3] = PG_GETARG_DATUM(4);
	if (PG_ARGISNULL(4))
		nulls[3] = 'n';
	else
		mask |= 1 << 3;
	NullArgument(fcinfo, 5, "max_rows");
	max_rows = PG_GETARG_INT32(5);
	if (max_rows < 1 || max_rows > LIST_MAX_ROWS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_rows must be between 1 and %d", LIST_MAX_ROWS),
				 errhint("Ask for the next page with after => the last key_id of this one.")));
	args[5] = Int32GetDatum(max_rows);
	ResolveActor(fcinfo, 6, &caller, &actor);
	if (actor.given)
	{
		args[4] = CStringGetTextDatum(actor.name);
		mask |= 1 << 4;
	}
	else
	{
		RequireActor(&actor, &caller, "list_keys()");
		args[4] = (Datum) 0;
		nulls[4] = 'n';
	}
	RequireCurrentSchema("list_keys()");
	store = BeginSetResult(fcinfo, &desc);

	SPI_connect();
	ret = SPI_execute_plan(ListPlan(mask, status), args, nulls, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "keymgmt: listing keys failed: %s",
			 SPI_result_code_string(ret));
	if (SPI_tuptable->tupdesc->natts != desc->natts)
		elog(ERROR, "keymgmt.keys has %d columns, its row type %d",
			 SPI_tuptable->tupdesc->natts, desc->natts);
	for (i = 0; i < SPI_processed; i++)
		tuplestore_puttuple(store, SPI_tuptable->vals[i]);
	SPI_finish();
	CallerLeave(&caller);
	return (Datum) 0;
}
