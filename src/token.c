/*-------------------------------------------------------------------------
 *
 * token.c
 *	  Parse, hash, mask and generate API keys.
 *
 * Nothing here touches the database.  A raw key is "sk-" followed by 1 to
 * 252 characters of [A-Za-z0-9_-]; its token is the lowercase hex SHA-256 of
 * the whole string, the same as LiteLLM's hash_token, so imported tokens
 * keep working.  The raw key is never copied anywhere but into the hash.
 *
 *-------------------------------------------------------------------------
 */
#include "keymgmt.h"

#include "common/base64.h"
#include "datatype/timestamp.h"
#include "port.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

static inline bool
IsRawKeyChar(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		(c >= '0' && c <= '9') || c == '_' || c == '-';
}

static inline bool
IsHexDigit(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		(c >= 'A' && c <= 'F');
}

/*
 * KeyIsRawForm
 *	  Has s the form of a raw key: "sk-" and 1 to 252 of [A-Za-z0-9_-]?
 */
bool
KeyIsRawForm(const char *s, size_t len)
{
	size_t		prefix = strlen(KEYMGMT_RAW_PREFIX);
	size_t		i;

	if (len <= prefix || len > KEYMGMT_RAW_MAX_LEN ||
		memcmp(s, KEYMGMT_RAW_PREFIX, prefix) != 0)
		return false;
	for (i = prefix; i < len; i++)
		if (!IsRawKeyChar((unsigned char) s[i]))
			return false;
	return true;
}

/*
 * KeyIsEmbedded
 *	  Does s hold a raw key: is it of the raw-key form as a whole, or does
 *	  "sk-" followed by KEYMGMT_EMBEDDED_MIN or more key characters start it
 *	  or follow a character that is not a key character?
 *
 * "Bearer sk-..." holds one; "risk-management-emea-2024" does not (its
 * "sk-" follows a key character), nor does "sk-short label".
 */
bool
KeyIsEmbedded(const char *s, size_t len)
{
	size_t		prefix = strlen(KEYMGMT_RAW_PREFIX);
	size_t		i;

	if (KeyIsRawForm(s, len))
		return true;
	for (i = 0; i + prefix <= len; i++)
	{
		size_t		run = 0;

		if (memcmp(s + i, KEYMGMT_RAW_PREFIX, prefix) != 0 ||
			(i > 0 && IsRawKeyChar((unsigned char) s[i - 1])))
			continue;
		while (i + prefix + run < len &&
			   IsRawKeyChar((unsigned char) s[i + prefix + run]))
			run++;
		if (run >= KEYMGMT_EMBEDDED_MIN)
			return true;
	}
	return false;
}

/*
 * KeyParse
 *	  Recognise a raw key or a 64-hex token and fill *out.
 *
 * Returns false for anything else; the caller decides how to report it and
 * must not echo the input.  Length is checked first, so a huge string costs
 * nothing.  A raw key is hashed here, once.
 */
bool
KeyParse(const char *s, size_t len, ParsedKey *out)
{
	size_t		i;

	if (len > KEYMGMT_RAW_MAX_LEN)
		return false;

	if (KeyIsRawForm(s, len))
	{
		out->is_raw = true;
		KeyHash(s, len, out->token);
		/*
		 * Messages name a raw key by its key_name form, unless the key is so
		 * short that its last 4 characters would give most of it away.
		 */
		if (len - strlen(KEYMGMT_RAW_PREFIX) >= 2 * 4)
			KeyName(s, len, out->display);
		else
			strlcpy(out->display, KEYMGMT_RAW_PREFIX "...", sizeof(out->display));
		return true;
	}

	if (len == KEYMGMT_TOKEN_LEN)
	{
		for (i = 0; i < len; i++)
		{
			unsigned char c = (unsigned char) s[i];

			if (!IsHexDigit(c))
				return false;
			out->token[i] = (c >= 'A' && c <= 'F') ? c - 'A' + 'a' : c;
		}
		out->token[len] = '\0';
		out->is_raw = false;
		snprintf(out->display, sizeof(out->display), "%.12s...", out->token);
		return true;
	}

	return false;
}

/*
 * KeyHash
 *	  Lowercase hex SHA-256 of the raw key, with PostgreSQL's own hashing.
 *
 * token must have room for KEYMGMT_TOKEN_LEN + 1 bytes.
 */
void
KeyHash(const char *raw, size_t len, char *token)
{
	uint8		digest[PG_SHA256_DIGEST_LENGTH];

	if (!KmSha256((const uint8 *) raw, len, digest))
		elog(ERROR, "could not compute SHA-256 of a key");
	hex_encode((const char *) digest, sizeof(digest), token);
	token[KEYMGMT_TOKEN_LEN] = '\0';
}

/*
 * KeyName
 *	  The display form of a raw key: "sk-..." and its last 4 characters.
 *
 * name must have room for KEYMGMT_DISPLAY_LEN bytes.  This is the only form
 * of a raw key that is stored or shown.
 */
void
KeyName(const char *raw, size_t len, char *name)
{
	size_t		tail = Min(len, 4);

	snprintf(name, KEYMGMT_DISPLAY_LEN, "sk-...%.*s",
			 (int) tail, raw + len - tail);
}

/*
 * KeyGenerate
 *	  A new raw key: "sk-" + URL-safe base64 (no padding) of 256 random bits.
 *
 * The result is palloc'd in the current memory context.
 */
char *
KeyGenerate(void)
{
	uint8		random[KEYMGMT_RANDOM_BYTES];
	int			b64len = pg_b64_enc_len(sizeof(random));
	size_t		prefix = strlen(KEYMGMT_RAW_PREFIX);
	char	   *key = palloc(prefix + b64len + 1);
	char	   *b64 = key + prefix;
	int			n;
	int			i;

	if (!pg_strong_random(random, sizeof(random)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random bytes for a key")));

	memcpy(key, KEYMGMT_RAW_PREFIX, prefix);
	n = pg_b64_encode(KM_B64_SOURCE(random), sizeof(random), b64, b64len);
	explicit_bzero(random, sizeof(random));
	if (n < 0)
		elog(ERROR, "could not encode a key");

	/* standard base64 to the URL-safe alphabet, padding dropped */
	while (n > 0 && b64[n - 1] == '=')
		n--;
	for (i = 0; i < n; i++)
	{
		if (b64[i] == '+')
			b64[i] = '-';
		else if (b64[i] == '/')
			b64[i] = '_';
	}
	b64[n] = '\0';
	return key;
}

/*
 * KeyIdParse
 *	  Recognise a key_id in canonical uuid text form (8-4-4-4-12 hex digits,
 *	  either case) and store it in *out.  Returns false for anything else:
 *	  uuid_in's other spellings (braces, no hyphens) are not a key argument.
 */
bool
KeyIdParse(const char *s, size_t len, pg_uuid_t *out)
{
	int			i;
	int			n = 0;

	if (len != 36)
		return false;
	for (i = 0; i < 36; i++)
	{
		unsigned char c = (unsigned char) s[i];
		int			nibble;

		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (c != '-')
				return false;
			continue;
		}
		if (!IsHexDigit(c))
			return false;
		nibble = (c <= '9') ? c - '0' : (c | 0x20) - 'a' + 10;
		if (n % 2 == 0)
			out->data[n / 2] = (unsigned char) (nibble << 4);
		else
			out->data[n / 2] |= (unsigned char) nibble;
		n++;
	}
	return true;
}

/*
 * KeyIdMake
 *	  A new key_id: a UUIDv7 (RFC 9562) for a key created at created_at.
 *
 * 48 bits of Unix time in milliseconds, the version, 12 bits of the time's
 * fraction of a millisecond (RFC 9562's method 3, so keys made in one
 * millisecond but different microseconds still sort in order), the
 * variant, and 62 bits of pg_strong_random().  Times before 1970 count as
 * 1970.
 */
void
KeyIdMake(TimestampTz created_at, pg_uuid_t *out)
{
	int64		unix_us;
	uint64		ms;
	uint32		sub_ms;
	int			i;

	unix_us = created_at +
		(int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
	if (created_at == DT_NOBEGIN || unix_us < 0)
		unix_us = 0;
	ms = (uint64) unix_us / 1000;
	if (created_at == DT_NOEND || ms > UINT64CONST(0xFFFFFFFFFFFF))
		ms = UINT64CONST(0xFFFFFFFFFFFF);
	sub_ms = (uint32) (((uint64) unix_us % 1000) * 4096 / 1000);

	if (!pg_strong_random(out->data + 8, 8))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random bytes for a key_id")));
	for (i = 0; i < 6; i++)
		out->data[i] = (unsigned char) (ms >> (40 - 8 * i));
	out->data[6] = (unsigned char) (0x70 | (sub_ms >> 8));
	out->data[7] = (unsigned char) (sub_ms & 0xff);
	out->data[8] = (unsigned char) (0x80 | (out->data[8] & 0x3f));
}
