/*-------------------------------------------------------------------------
 *
 * keymgmt.h
 *	  Shared declarations of the keymgmt extension.
 *
 * token.c     parses, hashes, masks and generates keys (no database access)
 * names.c     the limits on caller-supplied names and ids; clipping them
 *             for messages
 * caller.c    the calling role, and running as the extension's owner
 * actor.c     who is acting: the actor, roles that must name one
 *             (set_actor_required)
 * authority.c who may change, create or grant what; grant_admin and
 *             revoke_admin
 * change.c    the one path every key change takes: lock, authority, no-op
 *             or one statement that writes the change and its audit rows,
 *             one notification per changed key
 * keys.c      generate_key, import_key, block_key, unblock_key, delete_key,
 *             key_info, key_id_at
 * update.c    update_key
 * rotate.c    rotate_key and end_grace (previous secrets and their grace)
 * bulk.c      block_keys and unblock_keys
 * list.c      list_keys
 * verify.c    verify_key, the read-only hot path
 * feed.c      the change feed: changes() and current_cursor()
 * notify.c    cache-invalidation notifications (keymgmt.notify = commit)
 * notifier.c  the background worker of keymgmt.notify = batched
 * keymgmt.c   module load, settings, SPI and result helpers
 * compat.h    every difference between PostgreSQL 13 and 18
 *
 *-------------------------------------------------------------------------
 */
#ifndef KEYMGMT_H
#define KEYMGMT_H

#include "postgres.h"

#include "compat.h"
#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"

/* lowercase hex SHA-256: the only form of a key that is ever stored */
#define KEYMGMT_TOKEN_LEN		64
/* "sk-" followed by 1 to 252 characters of [A-Za-z0-9_-] */
#define KEYMGMT_RAW_PREFIX		"sk-"
#define KEYMGMT_RAW_MAX_LEN		255
/* bytes of pg_strong_random() in a generated key: 256 bits */
#define KEYMGMT_RANDOM_BYTES	32
/* longest form of a key that may appear in a message: "sk-...abcd" or
 * the first 12 hex digits of a token followed by "..." */
#define KEYMGMT_DISPLAY_LEN		16
/* "sk-" followed by this many key characters inside a value is a raw key */
#define KEYMGMT_EMBEDDED_MIN	20
/* longest actor, user, team, organization, alias: in characters */
#define KEYMGMT_NAME_MAX_CHARS	255
/* most characters of a caller's value that a message repeats */
#define KEYMGMT_MESSAGE_CHARS	64
/* room for a key's form in a message: a display form, or a key_id */
#define KEYMGMT_SHOWN_LEN		40

typedef struct ParsedKey
{
	bool		is_raw;			/* raw key (a credential) or a token */
	bool		is_key_id;		/* the key_id form (admin functions only) */
	char		token[KEYMGMT_TOKEN_LEN + 1];	/* unless is_key_id */
	pg_uuid_t	key_id;			/* if is_key_id */
	char		display[KEYMGMT_SHOWN_LEN];	/* safe to put in a message */
} ParsedKey;

/*
 * Who called a keymgmt function, captured on entry, before it switches to
 * the extension owner's rights.
 */
typedef struct Caller
{
	Oid			role;			/* current_user at the call: audit db_role */
	bool		restricted;		/* in a security-restricted operation */
	Oid			save_userid;	/* restored by CallerLeave */
	int			save_sec_context;
} Caller;

/* Who is acting, and whether they said so (argument or keymgmt.actor). */
typedef struct Actor
{
	char	   *name;			/* for the audit log; never NULL */
	bool		given;			/* false: fell back to the calling role */
} Actor;

/* does a change by this caller have to name an actor? (actor.c) */
extern bool ActorRequired(const Caller *caller);

/*
 * The scope of a key (the locked row, or the one about to be created), or
 * of an admin grant (user_id NULL), for the authority check.
 */
typedef struct KeyScope
{
	char	   *user_id;		/* NULL when the column is NULL */
	char	   *team_id;
	char	   *organization_id;
} KeyScope;

/*
 * One row of keymgmt.keys that a change has locked, copied out of SPI.
 */
typedef struct LockedKey
{
	char	   *token;
	Datum		key_id;			/* uuid */
	bool		blocked;
	KeyScope	scope;			/* owner, team, organization */
	Datum		row;			/* keymgmt.keys (one-key changes only) */
} LockedKey;

/* what a change applies to */
typedef enum ChangeTarget
{
	TARGET_KEY,					/* one key: its token, key_id or previous secret */
	TARGET_MATCHING,			/* every key matching filters (block_keys) */
	TARGET_NEW					/* a key that does not exist yet */
} ChangeTarget;

#define KEYMGMT_CHANGE_MAX_EXTRA 12

/* how a key's row is read: no lock, FOR NO KEY UPDATE, FOR UPDATE */
typedef enum LockStrength
{
	LOCK_NONE, LOCK_ROW, LOCK_ROW_EXCLUSIVE
} LockStrength;

/*
 * A key change, as the SQL-callable function describes it to RunKeyChange
 * (change.c).  The write statement takes $1 text[] (the tokens of the keys
 * that change), $2 the transaction's timestamp, $3 the actor, $4 db_role,
 * then the change's own parameters; it writes the change and its audit rows
 * and returns (k keymgmt.keys, token text, key_id uuid), one row per
 * notification to send.
 */
typedef struct KeyChange KeyChange;
struct KeyChange
{
	/* what */
	const char *what;			/* "block_key()", for messages */
	const char *verb;			/* "block", for authority messages */
	const char *action;			/* audit and notification action */
	bool		owner_may;		/* the key's owner may do it too */
	bool		exclusive;		/* FOR UPDATE (the token changes, the row goes) */
	/* does this locked key change?  NULL: always; may raise */
	bool		(*changes) (KeyChange *change, LockedKey *key);
	/* the write returned no row for a new key, or hit a unique index */
	void		(*conflict) (KeyChange *change);
	bool		guard_unique;	/* write in a subtransaction: 23505 -> conflict */
	const char *write_sql;
	SPIPlanPtr *write_plan;
	int			nextra;
	Oid			extra_types[KEYMGMT_CHANGE_MAX_EXTRA];
	Datum		extra[KEYMGMT_CHANGE_MAX_EXTRA];
	char		extra_nulls[KEYMGMT_CHANGE_MAX_EXTRA];
	void	   *arg;			/* the function's own state */

	/* who */
	const Caller *caller;
	const Actor *actor;

	/* on what */
	ChangeTarget target;
	const ParsedKey *key;		/* TARGET_KEY */
	KeyScope	scope;			/* TARGET_MATCHING: filters; TARGET_NEW: scope */
	bool		want_blocked;	/* TARGET_MATCHING: lock keys not in this state */

	/* results */
	Datum		row;			/* one-key and new: the row to return */
	bool		has_row;
	uint64		nwritten;		/* rows the write returned */
	Tuplestorestate *store;		/* TARGET_MATCHING: the changed rows go here */
	TupleDesc	store_desc;
};

/* token.c */
extern bool KeyIsRawForm(const char *s, size_t len);
extern bool KeyIsEmbedded(const char *s, size_t len);
extern bool KeyParse(const char *s, size_t len, ParsedKey *out);
extern bool KeyIdParse(const char *s, size_t len, pg_uuid_t *out);
extern void KeyHash(const char *raw, size_t len, char *token);
extern void KeyName(const char *raw, size_t len, char *name);
extern char *KeyGenerate(void);
extern void KeyIdMake(TimestampTz created_at, pg_uuid_t *out);

/* names.c */
extern void CheckName(const char *what, const char *value);
extern char *NameArgument(FunctionCallInfo fcinfo, int argno, const char *what);
extern char *ClipForMessage(const char *value);

/* caller.c */
extern void CallerEnter(FunctionCallInfo fcinfo, Caller *caller);
extern void CallerLeave(Caller *caller);
extern char *CallerRoleName(const Caller *caller);
extern Oid	KeptRelation(Oid *slot, const char *relname, bool missing_ok,
						 bool *fresh);
extern Oid	KeysTableOwner(void);
extern void RequireCurrentSchema(const char *what);
extern bool SchemaIsCurrent(void);

/* actor.c */
extern char *keymgmt_actor;
extern bool keymgmt_require_actor;

extern void ResolveActor(FunctionCallInfo fcinfo, int argno,
						 const Caller *caller, Actor *actor);
extern void RequireActor(const Actor *actor, const Caller *caller,
						 const char *what);

/* authority.c */
extern void CheckAuthority(const Actor *actor, const Caller *caller,
						   const char *what, const char *verb, bool owner_may,
						   const char *shown, const KeyScope *scope);
extern void CheckCreateAuthority(const Actor *actor, const Caller *caller,
								 const char *what, const KeyScope *scope);
extern void CheckMoveAuthority(const Actor *actor, const Caller *caller,
							   const char *shown, const KeyScope *scope);
extern const char *AdminScopeCondition(int actor_param);

/* keys.c */
extern void SetBlockedChange(KeyChange *change, bool blocked);

/* change.c */
extern void RunKeyChange(KeyChange *change);
extern bool FindKeyRow(const ParsedKey *key, LockStrength strength,
					   LockedKey *out);
extern Datum TokenOf(const char *token);
pg_noreturn extern void ReportAliasTaken(const char *alias);

/* keymgmt.c */
typedef enum NotifyMode
{
	NOTIFY_OFF,					/* no notifications */
	NOTIFY_COMMIT,				/* one per change, in the changing transaction */
	NOTIFY_BATCHED				/* one per interval, from the background worker */
} NotifyMode;

extern int	keymgmt_notify;
extern char *keymgmt_database;
extern int	keymgmt_notify_interval;

extern bool KeyArgumentParses(FunctionCallInfo fcinfo, int argno, ParsedKey *out);
extern void ParseKeyArgument(FunctionCallInfo fcinfo, int argno, ParsedKey *out);
extern SPIPlanPtr KeptPlan(SPIPlanPtr *cache, const char *sql,
						   int nargs, Oid *argtypes);
extern void CheckOneRowContext(FunctionCallInfo fcinfo);
extern void ReturnOneRow(FunctionCallInfo fcinfo, Datum *values, bool *nulls);
extern Tuplestorestate *BeginSetResult(FunctionCallInfo fcinfo,
									   TupleDesc *desc);
extern void PutRow(Tuplestorestate *store, Datum row);
extern bool TryInSubtransaction(void (*fn) (void *arg), void *arg,
								bool (*accept) (int sqlerrcode));
extern bool NullArgument(FunctionCallInfo fcinfo, int argno, const char *name);
extern Datum MetadataArgument(FunctionCallInfo fcinfo, int argno);
pg_noreturn extern void ReportKeyNotFound(const ParsedKey *key);

/* feed.c */
extern char *CursorText(uint64 txid, int64 id);

/* notifier.c */
extern void RegisterNotifier(void);
PGDLLEXPORT void keymgmt_notifier_main(Datum arg);

/* notify.c */
#define KEYMGMT_CHANNEL "keymgmt"
extern void NotifyKeyChange(const char *action, const char *token,
							Datum key_id);
extern void NotifyAdminChange(const char *action, const char *user_id);

#endif							/* KEYMGMT_H */
