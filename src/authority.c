/*-------------------------------------------------------------------------
 *
 * authority.c
 *	  Who may change, create or grant what, and the admins table behind it.
 *
 * Two layers: the database decides who may EXECUTE a function; keymgmt
 * decides what an actor (the actor argument or keymgmt.actor) may do to a
 * key.  The second check runs on the row that the change has already
 * locked, and it takes a SHARE lock on the admins rows that grant the right:
 * a concurrent revoke_admin (a DELETE), or any UPDATE of the row, then waits
 * for the change to commit, and a change that starts after a revoke sees it.  A right that
 * was revoked and committed can never authorise a change.
 *
 * The same rules decide what an actor may create (a key it could block)
 * and which admin grants it may make or take back.  Every refusal is 42501
 * with one shape of message, whoever the caller is.
 *
 *-------------------------------------------------------------------------
 */
#include "keymgmt.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(grant_admin);
PG_FUNCTION_INFO_V1(revoke_admin);

static SPIPlanPtr authority_plan = NULL;
static SPIPlanPtr grant_plan = NULL;
static SPIPlanPtr revoke_plan = NULL;

/* $1 actor, $2 the key's team_id, $3 the key's organization_id */
#define AUTHORITY_SQL \
	"SELECT 1 FROM keymgmt.admins a" \
	" WHERE a.user_id OPERATOR(pg_catalog.=) $1" \
	"   AND ((a.team_id IS NULL AND a.organization_id IS NULL)" \
	"        OR a.team_id OPERATOR(pg_catalog.=) $2" \
	"        OR a.organization_id OPERATOR(pg_catalog.=) $3)" \
	" FOR SHARE OF a"

/* $1 user_id, $2 team_id, $3 organization_id, $4 now, $5 actor, $6 db_role */
#define GRANT_SQL \
	"WITH ins AS (" \
	"  INSERT INTO keymgmt.admins AS a (user_id, team_id, organization_id)" \
	"  VALUES ($1, $2, $3)" \
	"  ON CONFLICT (user_id, (COALESCE(team_id, '')), (COALESCE(organization_id, '')))" \
	"  DO NOTHING RETURNING a" \
	") INSERT INTO keymgmt.audit_log (object_type, changed_at, action, object_id," \
	"    changed_by, db_role, updated_values)" \
	"  SELECT 'admin', $4, 'created', $1, $5, $6, pg_catalog.to_jsonb(ins.a)" \
	"  FROM ins"

/* same parameters; '' never names a scope, so COALESCE matches NULL only */
#define REVOKE_SQL \
	"WITH del AS (" \
	"  DELETE FROM keymgmt.admins a" \
	"  WHERE a.user_id OPERATOR(pg_catalog.=) $1" \
	"    AND COALESCE(a.team_id, '') OPERATOR(pg_catalog.=) COALESCE($2, '')" \
	"    AND COALESCE(a.organization_id, '') OPERATOR(pg_catalog.=) COALESCE($3, '')" \
	"  RETURNING a" \
	") INSERT INTO keymgmt.audit_log (object_type, changed_at, action, object_id," \
	"    changed_by, db_role, before_value)" \
	"  SELECT 'admin', $4, 'deleted', $1, $5, $6, pg_catalog.to_jsonb(del.a)" \
	"  FROM del"

/*
 * CheckScope
 *	  May this actor <verb> <object> (a key, or an admin grant) of this
 *	  scope?  Returns, or raises 42501.
 *
 * No actor: the database role is the authority (it had EXECUTE), unless an
 * actor is required (actor.c).  An actor may act as a global admin, an
 * admin of the scope's team or organization, or, where owner_may, as the
 * owner named by the scope's user_id.  Must run inside SPI_connect(),
 * after the key row (if any) is locked.
 */
static void
CheckScope(const Actor *actor, const Caller *caller, const char *what,
		   const char *verb, const char *object, const char *object_again,
		   bool owner_may, const char *owner, const KeyScope *scope)
{
	Oid			argtypes[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};
	StringInfoData needed;
	const char *who[4];
	int			nwho = 0;
	int			ret;
	int			i;

	if (!actor->given)
	{
		RequireActor(actor, caller, what);
		return;
	}

	/* an empty actor names nobody: it is never an owner (nor an admin) */
	if (owner_may && scope->user_id != NULL && actor->name[0] != '\0' &&
		strcmp(scope->user_id, actor->name) == 0)
		return;

	args[0] = CStringGetTextDatum(actor->name);
	args[1] = scope->team_id ? CStringGetTextDatum(scope->team_id) : (Datum) 0;
	args[2] = scope->organization_id ?
		CStringGetTextDatum(scope->organization_id) : (Datum) 0;
	if (scope->team_id == NULL)
		nulls[1] = 'n';
	if (scope->organization_id == NULL)
		nulls[2] = 'n';

	ret = SPI_execute_plan(KeptPlan(&authority_plan, AUTHORITY_SQL, 3, argtypes),
						   args, nulls, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "keymgmt: checking authority failed: %s",
			 SPI_result_code_string(ret));
	SPI_freetuptable(SPI_tuptable);	/* a bulk change checks many scopes */
	if (SPI_processed > 0)
		return;

	/* say what would have been needed, the same way for everybody */
	who[nwho++] = "a global admin";
	if (scope->team_id)
		who[nwho++] = psprintf("an admin of team \"%s\"",
							   ClipForMessage(scope->team_id));
	if (scope->organization_id)
		who[nwho++] = psprintf("an admin of organization \"%s\"",
							   ClipForMessage(scope->organization_id));
	if (owner_may && owner)
		who[nwho++] = owner;

	initStringInfo(&needed);
	for (i = 0; i < nwho; i++)
	{
		if (i > 0)
			appendStringInfoString(&needed, i == nwho - 1 ? " or " : ", ");
		appendStringInfoString(&needed, who[i]);
	}

	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("actor \"%s\" may not %s %s",
					ClipForMessage(actor->name), verb, object),
			 errdetail("To %s %s, the actor must be %s.", verb, object_again,
					   needed.data)));
}

/*
 * CheckAuthority
 *	  May this actor <verb> (block, unblock, delete, update, rotate, ...)
 *	  this locked key, shown in messages as shown?
 *
 * owner_may: the key's owner may too (block, delete, rotate, end_grace: a
 * safe direction when a key leaks; not unblock or update).
 */
void
CheckAuthority(const Actor *actor, const Caller *caller, const char *what,
			   const char *verb, bool owner_may, const char *shown,
			   const KeyScope *scope)
{
	CheckScope(actor, caller, what, verb, psprintf("key \"%s\"", shown),
			   "this key", owner_may,
			   scope->user_id ? "the key's owner" : NULL, scope);
}

/*
 * CheckMoveAuthority
 *	  update_key changing a key's team or organization: may the actor put
 *	  the key where it goes?  A global admin, or an admin of the new team or
 *	  of the new organization (scope is the row after the change).
 */
void
CheckMoveAuthority(const Actor *actor, const Caller *caller,
				   const char *shown, const KeyScope *scope)
{
	CheckScope(actor, caller, "update_key()", "move",
			   psprintf("key \"%s\" there", shown), "a key there",
			   false, NULL, scope);
}

/*
 * AdminScopeCondition
 *	  The authority rules as an SQL condition on a row k of keymgmt.keys,
 *	  for list_keys: may the actor in parameter $n manage it, or does it own
 *	  it?  The same admins rows CheckScope reads; an empty actor is nobody.
 */
const char *
AdminScopeCondition(int n)
{
	return psprintf("($%d OPERATOR(pg_catalog.<>) ''"
					" AND (k.user_id OPERATOR(pg_catalog.=) $%d"
					"  OR EXISTS (SELECT 1 FROM keymgmt.admins a"
					"   WHERE a.user_id OPERATOR(pg_catalog.=) $%d"
					"     AND ((a.team_id IS NULL AND a.organization_id IS NULL)"
					"          OR a.team_id OPERATOR(pg_catalog.=) k.team_id"
					"          OR a.organization_id OPERATOR(pg_catalog.=) k.organization_id))))",
					n, n, n);
}

/*
 * CheckCreateAuthority
 *	  May this actor create (generate, import) a key of this scope?
 *
 * Only a key the actor could block: a global admin any key, an admin of
 * the new key's team or organization (whoever its owner), anyone else only
 * a key of their own with no team and no organization.
 */
void
CheckCreateAuthority(const Actor *actor, const Caller *caller,
					 const char *what, const KeyScope *scope)
{
	CheckScope(actor, caller, what, "create", "this key", "this key",
			   scope->team_id == NULL && scope->organization_id == NULL,
			   "its owner (user_id = the actor) when it has no team and no organization",
			   scope);
}

/*
 * ReadScopeArguments
 *	  user_id, team_id, organization_id of grant_admin / revoke_admin into
 *	  args/nulls and *scope.
 *
 * One admins row is one scope: global (no team, no organization), a team,
 * or an organization.  Empty strings name nothing and are refused; every
 * id is checked like any name (names.c).
 */
static void
ReadScopeArguments(FunctionCallInfo fcinfo, Datum *args, char *nulls,
				   KeyScope *scope)
{
	static const char *const names[3] = {"user_id", "team_id", "organization_id"};
	char	   *ids[3];
	int			i;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("user_id must not be null")));
	if (!PG_ARGISNULL(1) && !PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an admin is of a team or of an organization, not both"),
				 errhint("Grant the two scopes separately.")));

	for (i = 0; i < 3; i++)
	{
		ids[i] = NameArgument(fcinfo, i, names[i]);
		if (ids[i] != NULL && ids[i][0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must not be empty", names[i])));
		nulls[i] = ids[i] ? ' ' : 'n';
		args[i] = ids[i] ? CStringGetTextDatum(ids[i]) : (Datum) 0;
	}
	scope->user_id = NULL;		/* nobody owns a grant */
	scope->team_id = ids[1];
	scope->organization_id = ids[2];
}

/*
 * ChangeAdmins
 *	  grant_admin and revoke_admin: authority, then one audited, notified
 *	  change or none.
 *
 * With an actor (keymgmt.actor): a global admin may grant or revoke
 * anything, an admin of a team admin of that team, an admin of an
 * organization admin of that organization.  The check comes before the
 * no-op, so an actor that may not grant is refused even for a grant that
 * exists.
 */
static Datum
ChangeAdmins(FunctionCallInfo fcinfo, bool grant)
{
	const char *what = grant ? "grant_admin()" : "revoke_admin()";
	const char *verb = grant ? "grant" : "revoke";
	const char *action = grant ? "created" : "deleted";
	Oid			argtypes[6] = {TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID,
	TEXTOID, TEXTOID};
	Datum		args[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	Caller		caller;
	Actor		actor;
	KeyScope	scope;
	char	   *object;
	int			ret;
	bool		changed;

	CallerEnter(fcinfo, &caller);
	ReadScopeArguments(fcinfo, args, nulls, &scope);
	PreventCommandIfReadOnly(what);	/* also on a standby */
	ResolveActor(fcinfo, -1, &caller, &actor);

	if (scope.team_id)
		object = psprintf("admin of team \"%s\"", ClipForMessage(scope.team_id));
	else if (scope.organization_id)
		object = psprintf("admin of organization \"%s\"",
						  ClipForMessage(scope.organization_id));
	else
		object = "global admin";

	args[3] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	args[4] = CStringGetTextDatum(actor.name);
	args[5] = CStringGetTextDatum(CallerRoleName(&caller));

	SPI_connect();
	CheckScope(&actor, &caller, what, verb, object, object, false, NULL, &scope);
	if (grant)
		ret = SPI_execute_plan(KeptPlan(&grant_plan, GRANT_SQL, 6, argtypes),
							   args, nulls, false, 0);
	else
		ret = SPI_execute_plan(KeptPlan(&revoke_plan, REVOKE_SQL, 6, argtypes),
							   args, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "keymgmt: %s failed: %s", what, SPI_result_code_string(ret));
	changed = (SPI_processed == 1);
	SPI_finish();

	if (changed)
		NotifyAdminChange(action, TextDatumGetCString(args[0]));
	CallerLeave(&caller);
	PG_RETURN_BOOL(changed);
}

/*
 * grant_admin(user_id text, team_id text DEFAULT NULL,
 *			   organization_id text DEFAULT NULL) RETURNS boolean
 *	  Make user_id a global, team or organization admin.  Idempotent:
 *	  false (and nothing written) when the grant already exists.
 */
Datum
grant_admin(PG_FUNCTION_ARGS)
{
	return ChangeAdmins(fcinfo, true);
}

/*
 * revoke_admin(user_id text, team_id text DEFAULT NULL,
 *				organization_id text DEFAULT NULL) RETURNS boolean
 *	  Remove exactly that grant.  Idempotent: false when there was none.
 *	  Waits for changes that the grant is authorising right now.
 */
Datum
revoke_admin(PG_FUNCTION_ARGS)
{
	return ChangeAdmins(fcinfo, false);
}
