/*-------------------------------------------------------------------------
 *
 * names.c
 *	  What a caller may put into an actor, a user, team or organization id,
 *	  or a key alias, and how much of it a message may repeat.
 *
 * These values end up in the audit log, in notifications and in messages
 * that reach server logs and HTTP clients.  So each is at most 255
 * characters, holds no control character (a newline would forge a log
 * line) and no raw key (a gateway passing "Bearer sk-..." as the actor
 * would store the credential).  A refused value is never echoed; an
 * accepted one is clipped to 64 characters in messages.
 *
 *-------------------------------------------------------------------------
 */
#include "keymgmt.h"

#include "access/detoast.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

/*
 * HasControlCharacter
 *	  Does s (valid in the database encoding) hold U+0000-U+001F or
 *	  U+007F-U+009F?
 *
 * The C1 range is recognised in UTF-8 (as code points; also in SQL_ASCII,
 * which holds UTF-8 clients' bytes as they are) and in the single-byte
 * encodings where bytes 0x80-0x9F are those code points (the ISO 8859
 * family); in every server encoding a byte below 0x80 is ASCII.
 */
static bool
HasControlCharacter(const char *s, int len)
{
	int			encoding = GetDatabaseEncoding();
	bool		c1_bytes = (encoding >= PG_LATIN1 && encoding <= PG_LATIN10) ||
		(encoding >= PG_ISO_8859_5 && encoding <= PG_ISO_8859_8);
	/* SQL_ASCII stores whatever bytes it is given: UTF-8 clients' too */
	bool		c1_utf8 = encoding == PG_UTF8 || encoding == PG_SQL_ASCII;
	int			i = 0;

	while (i < len)
	{
		unsigned char c = (unsigned char) s[i];

		if (c < 0x20 || c == 0x7f || (c1_bytes && c >= 0x80 && c <= 0x9f))
			return true;
		/* U+0080-U+009F in UTF-8: C2 80 to C2 9F */
		if (c1_utf8 && c == 0xc2 && i + 1 < len &&
			(unsigned char) s[i + 1] >= 0x80 && (unsigned char) s[i + 1] <= 0x9f)
			return true;
		i += pg_mblen(s + i);
	}
	return false;
}

/*
 * RefuseName
 *	  22023 for a name that breaks rule; the value is never repeated.
 */
pg_noreturn static void
RefuseName(const char *what, const char *rule, bool holds_key)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s must be %s", what, rule),
			 errdetail("Actors, user, team and organization ids and key aliases are stored, audited and shown; the value is not repeated here."),
			 holds_key ?
			 errhint("Raw keys are never stored or shown: name the caller by an id, not by its key.") : 0));
}

/*
 * CheckName
 *	  22023 unless value may be stored and shown as what (an actor, a user
 *	  id, ...): at most 255 characters, no control character, no raw key.
 *	  The message names the rule, never the value.
 */
void
CheckName(const char *what, const char *value)
{
	int			len = strlen(value);

	if (pg_mbstrlen_with_len(value, len) > KEYMGMT_NAME_MAX_CHARS)
		RefuseName(what, "at most 255 characters long", false);
	if (HasControlCharacter(value, len))
		RefuseName(what, "free of control characters", false);
	if (KeyIsEmbedded(value, len))
		RefuseName(what, "free of API keys", true);
}

/*
 * NameArgument
 *	  A text argument that names someone or something, checked; NULL when
 *	  the argument is null.
 *
 * The length is checked on the datum's raw size before it is detoasted,
 * so a 1 GB argument is refused without being read (255 characters are at
 * most 255 * the encoding's longest character in bytes).
 */
char *
NameArgument(FunctionCallInfo fcinfo, int argno, const char *what)
{
	Datum		d;
	char	   *value;

	if (PG_ARGISNULL(argno))
		return NULL;
	d = PG_GETARG_DATUM(argno);
	if (toast_raw_datum_size(d) - VARHDRSZ >
		(Size) KEYMGMT_NAME_MAX_CHARS * pg_database_encoding_max_length())
		RefuseName(what, "at most 255 characters long", false);
	value = TextDatumGetCString(d);
	CheckName(what, value);
	return value;
}

/*
 * ClipForMessage
 *	  A caller's value as a message shows it: at most 64 characters, then
 *	  "..." when there was more, with every ASCII control character shown
 *	  as "?".
 *
 * New values cannot hold control characters (CheckName), but a team or
 * organization read from a row that was written before 1.1, or directly
 * by the tables' owner, may: it must not forge a line in the server log.
 */
char *
ClipForMessage(const char *value)
{
	int			len = strlen(value);
	int			clip = pg_mbcharcliplen(value, len, KEYMGMT_MESSAGE_CHARS);
	char	   *shown = psprintf("%.*s%s", clip, value, clip < len ? "..." : "");
	char	   *c;

	for (c = shown; *c; c++)
		if ((unsigned char) *c < 0x20 || *c == 0x7f)
			*c = '?';
	return shown;
}
