/*-------------------------------------------------------------------------
 *
 * actor.c
 *	  Who is acting: the actor a change names, and the roles that must
 *	  always name one (set_actor_required).
 *
 * The actor is the actor argument, else keymgmt.actor when not empty, else
 * the calling role's name -- in which case no actor was given and the
 * database role is the authority.  Inside a security-restricted operation
 * (an index expression that ANALYZE or autovacuum evaluates, a
 * materialized view refresh) the session's keymgmt.actor and
 * keymgmt.require_actor belong to whoever's session it is, not to the code
 * running, so they are ignored.
 *
 * Whether a role must name an actor is a fact about the role, kept in
 * keymgmt.actor_required_roles, where no client setting reaches: a client
 * can give any startup option, and a placeholder it sets for
 * keymgmt.require_actor before the library is loaded is discarded on load
 * and falls back to the default, not to the role's setting.
 *
 *-------------------------------------------------------------------------
 */
#include "keymgmt.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "executor/tuptable.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(set_actor_required);

/* keymgmt.actor: who is acting, for transactions that set it (gateways) */
char	   *keymgmt_actor = NULL;

/* keymgmt.require_actor: superuser-only; refuse changes that name no actor */
bool		keymgmt_require_actor = false;

static SPIPlanPtr list_plan = NULL;
static SPIPlanPtr unlist_plan = NULL;

/* $1 role, $2 now, $3 role name, $4 actor, $5 db_role */
#define LIST_SQL \
	"WITH ins AS (" \
	"  INSERT INTO keymgmt.actor_required_roles AS r (role) VALUES ($1)" \
	"  ON CONFLICT (role) DO NOTHING RETURNING r" \
	") INSERT INTO keymgmt.audit_log (object_type, changed_at, action, object_id," \
	"    changed_by, db_role, updated_values)" \
	"  SELECT 'role', $2, 'created', $3, $4, $5, pg_catalog.to_jsonb(ins.r)" \
	"  FROM ins"

#define UNLIST_SQL \
	"WITH del AS (" \
	"  DELETE FROM keymgmt.actor_required_roles r" \
	"  WHERE r.role OPERATOR(pg_catalog.=) $1 RETURNING r" \
	") INSERT INTO keymgmt.audit_log (object_type, changed_at, action, object_id," \
	"    changed_by, db_role, before_value)" \
	"  SELECT 'role', $2, 'deleted', $3, $4, $5, pg_catalog.to_jsonb(del.r)" \
	"  FROM del"

/*
 * ActorSetInThisTransaction
 *	  Was keymgmt.actor set (SET LOCAL, set_config(..., true), or SET) in the
 *	  current transaction?  A setting changed in a transaction has a stack
 *	  entry until the transaction ends; a value left from an earlier one (a
 *	  session-level SET, a startup option, another client's SET behind a
 *	  pooler) has none.
 */
static bool
ActorSetInThisTransaction(void)
{
	static struct config_generic *setting = NULL;

	if (setting == NULL)
		setting = KmFindSetting("keymgmt.actor");
	return setting != NULL && setting->stack != NULL;
}

/*
 * ResolveActor
 *	  Who is acting: the actor argument when not null (argno < 0: the
 *	  function has none), else keymgmt.actor when set, not empty and not
 *	  inside a security-restricted operation, else the calling role, in
 *	  which case the actor counts as not given.  A named actor is checked
 *	  (names.c).
 */
void
ResolveActor(FunctionCallInfo fcinfo, int argno, const Caller *caller,
			 Actor *actor)
{
	actor->given = true;
	if (argno >= 0 && !PG_ARGISNULL(argno))
		actor->name = NameArgument(fcinfo, argno, "actor");
	else if (!caller->restricted &&
			 keymgmt_actor != NULL && keymgmt_actor[0] != '\0')
	{
		CheckName("keymgmt.actor", keymgmt_actor);
		/*
		 * Where an actor is required, only one set for this transaction
		 * counts: behind a pooler in transaction mode, a session-level SET
		 * stays on the server connection for the next client.
		 */
		if (!ActorSetInThisTransaction() && ActorRequired(caller))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("keymgmt.actor was not set in this transaction"),
					 errdetail("An actor is required here, and a value left by a session-level SET (or a startup option) may belong to another client of a connection pooler."),
					 errhint("Use SET LOCAL keymgmt.actor, or set_config('keymgmt.actor', ..., true), in the transaction that makes the change, or pass the actor argument.")));
		actor->name = pstrdup(keymgmt_actor);
	}
	else
	{
		actor->name = CallerRoleName(caller);
		actor->given = false;
	}
}

/*
 * keymgmt.actor_required_roles' OID and the attribute number of its role
 * column, kept across calls (caller.c's KeptRelation).  keymgmt 1.0's
 * schema has no such table, until ALTER EXTENSION keymgmt UPDATE.
 */
static Oid	required_relid = InvalidOid;
static AttrNumber required_attnum;

static Oid
RequiredRolesTable(void)
{
	bool		fresh;
	Oid			relid = KeptRelation(&required_relid, "actor_required_roles",
									 true, &fresh);

	if (fresh)
	{
		required_attnum = get_attnum(relid, "role");
		if (required_attnum == InvalidAttrNumber)
			elog(ERROR, "keymgmt.actor_required_roles has no column \"role\"");
	}
	return relid;
}

/*
 * ListedRoleOf
 *	  The role in keymgmt.actor_required_roles that role is, or is a member
 *	  of; InvalidOid when there is none.
 *
 * Membership as PostgreSQL grants it, without the superuser shortcut: a
 * superuser that was not made a member of a listed role is not bound.
 * Only a change that names no actor asks.  The table is small and read on
 * that path for every change, so it is scanned directly, in the statement's
 * snapshot, rather than through SPI.  Runs as the tables' owner (caller.c).
 */
static Oid
ListedRoleOf(Oid role)
{
	Oid			relid = RequiredRolesTable();
	Oid			found = InvalidOid;
	Relation	rel;
	TableScanDesc scan;
	TupleTableSlot *slot;

	if (!OidIsValid(relid))
		return InvalidOid;

	rel = table_open(relid, AccessShareLock);
	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, ActiveSnapshotSet() ? GetActiveSnapshot()
						   : GetTransactionSnapshot(), 0, NULL);
	while (!OidIsValid(found) &&
		   table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		listed = slot_getattr(slot, required_attnum, &isnull);

		if (!isnull && is_member_of_role_nosuper(role, DatumGetObjectId(listed)))
			found = DatumGetObjectId(listed);
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, NoLock);
	return found;
}

/*
 * RequireActor
 *	  42501 when the change names no actor (an empty actor names nobody)
 *	  and one is required: by keymgmt.require_actor in this session, or
 *	  because the calling role is, or is a member of, a role listed by
 *	  set_actor_required.
 */
void
RequireActor(const Actor *actor, const Caller *caller, const char *what)
{
	Oid			listed;

	if (actor->given && actor->name[0] != '\0')
		return;

	if (!caller->restricted && keymgmt_require_actor)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s needs an actor", what),
				 errdetail("keymgmt.require_actor is on for this session."),
				 errhint("Pass the actor argument, or SET LOCAL keymgmt.actor in the same transaction.")));

	listed = ListedRoleOf(caller->role);
	if (OidIsValid(listed))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s needs an actor", what),
				 listed == caller->role ?
				 errdetail("Role \"%s\" must name an actor for every change.",
						   CallerRoleName(caller)) :
				 errdetail("Role \"%s\" is a member of role \"%s\", which must name an actor for every change.",
						   CallerRoleName(caller),
						   GetUserNameFromId(listed, false)),
				 errhint("Pass the actor argument, or SET LOCAL keymgmt.actor in the same transaction.")));
}

/*
 * ActorRequired
 *	  Must a change by this caller name an actor?  keymgmt.require_actor
 *	  (outside a security-restricted operation), or a listed role.
 */
bool
ActorRequired(const Caller *caller)
{
	if (!caller->restricted && keymgmt_require_actor)
		return true;
	return OidIsValid(ListedRoleOf(caller->role));
}

/*
 * set_actor_required(role_name name, required boolean DEFAULT true)
 *		RETURNS boolean
 *	  List role (and so every member of it) as one that must name an actor
 *	  for every change, or remove it; false when nothing changed.  Audited
 *	  with object_type 'role'.  Granted to nobody: superusers (and the
 *	  extension's owner) only.
 */
Datum
set_actor_required(PG_FUNCTION_ARGS)
{
	Oid			argtypes[5] = {REGROLEOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		args[5];
	Caller		caller;
	Actor		actor;
	Oid			role;
	bool		required;
	bool		changed;
	int			ret;

	CallerEnter(fcinfo, &caller);
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("role_name must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("required must not be null")));
	required = PG_GETARG_BOOL(1);
	PreventCommandIfReadOnly("set_actor_required()");
	role = get_role_oid(NameStr(*PG_GETARG_NAME(0)), false);	/* 42704 */
	ResolveActor(fcinfo, -1, &caller, &actor);
	RequireActor(&actor, &caller, "set_actor_required()");

	args[0] = ObjectIdGetDatum(role);
	args[1] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	args[2] = CStringGetTextDatum(GetUserNameFromId(role, false));
	args[3] = CStringGetTextDatum(actor.name);
	args[4] = CStringGetTextDatum(CallerRoleName(&caller));

	SPI_connect();
	if (required)
		ret = SPI_execute_plan(KeptPlan(&list_plan, LIST_SQL, 5, argtypes),
							   args, NULL, false, 0);
	else
		ret = SPI_execute_plan(KeptPlan(&unlist_plan, UNLIST_SQL, 5, argtypes),
							   args, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "keymgmt: set_actor_required() failed: %s",
			 SPI_result_code_string(ret));
	changed = (SPI_processed == 1);
	SPI_finish();

	CallerLeave(&caller);
	PG_RETURN_BOOL(changed);
}
