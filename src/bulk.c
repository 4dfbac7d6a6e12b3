/*-------------------------------------------------------------------------
 *
 * bulk.c
 *	  block_keys and unblock_keys: one change for every key of a user, a
 *	  team or an organization (offboarding, an incident).
 *
 * All or nothing: if the actor may not change one of the keys, 42501 and
 * nothing changes.  Keys already in the wanted state are not changed,
 * audited, returned, or checked.  The keys are locked in key_id order (a
 * key's token changes when it is rotated, its key_id never), read through
 * a cursor and written a batch at a time (change.c), so 100,000 keys take
 * the memory of a thousand
 * (besides the queued notifications, one per key, and the result rows,
 * which spill to disk past work_mem).
 *
 *-------------------------------------------------------------------------
 */
#include "keymgmt.h"

#include "funcapi.h"

PG_FUNCTION_INFO_V1(block_keys);
PG_FUNCTION_INFO_V1(unblock_keys);

/*
 * SetBlockedMatching
 *	  block_keys (blocked) and unblock_keys.
 */
static Datum
SetBlockedMatching(FunctionCallInfo fcinfo, bool blocked)
{
	KeyChange	c = {0};
	Caller		caller;
	Actor		actor;

	CallerEnter(fcinfo, &caller);
	c.scope.user_id = NameArgument(fcinfo, 0, "user_id");
	c.scope.team_id = NameArgument(fcinfo, 1, "team_id");
	c.scope.organization_id = NameArgument(fcinfo, 2, "organization_id");
	c.what = blocked ? "block_keys()" : "unblock_keys()";
	if (!c.scope.user_id && !c.scope.team_id && !c.scope.organization_id)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s needs at least one of user_id, team_id and organization_id",
						c.what),
				 errhint("It changes every key matching all the filters given.")));
	ResolveActor(fcinfo, 3, &caller, &actor);

	SetBlockedChange(&c, blocked);
	c.caller = &caller;
	c.actor = &actor;
	c.target = TARGET_MATCHING;
	c.store = BeginSetResult(fcinfo, &c.store_desc);
	RunKeyChange(&c);

	CallerLeave(&caller);
	return (Datum) 0;
}

/*
 * block_keys(user_id text DEFAULT NULL, team_id text DEFAULT NULL,
 *			  organization_id text DEFAULT NULL, actor text DEFAULT NULL)
 *		RETURNS SETOF keymgmt.keys
 *	  Block every key matching all the given filters; returns the rows it
 *	  changed.
 */
Datum
block_keys(PG_FUNCTION_ARGS)
{
	return SetBlockedMatching(fcinfo, true);
}

/*
 * unblock_keys(...) RETURNS SETOF keymgmt.keys
 *	  The same for unblock.
 */
Datum
unblock_keys(PG_FUNCTION_ARGS)
{
	return SetBlockedMatching(fcinfo, false);
}
