/*-------------------------------------------------------------------------
 *
 * fuzz_key.c
 *	  libFuzzer target for the key parser of src/token.c.
 *
 * Every input goes to KeyParse() as it is (not NUL-terminated, so ASan
 * sees any read past its end) and to an independent reference recogniser
 * written here from the contract: a raw key is "sk-" followed by 1 to 252
 * characters of [A-Za-z0-9_-], a token is exactly 64 hex digits, anything
 * else (and anything over 255 bytes) is refused.  The two must agree, and
 * what KeyParse fills in must hold:
 *
 *	- a raw key's token is 64 lowercase hex digits and equals the SHA-256 of
 *	  the input, computed here with OpenSSL (and checked once against
 *	  vectors from coreutils' sha256sum, which does not use OpenSSL);
 *	- a token's token is the input in lowercase;
 *	- display is terminated inside its buffer, holds at most 12 hex digits
 *	  of the token, and is the token's first 12 digits + "..." for a token,
 *	  "sk-..." + the last 4 characters for a raw key with 8 or more
 *	  characters after "sk-", and exactly "sk-..." for a shorter one (so
 *	  none of a short key's characters are shown);
 *	- a raw key's characters after "sk-" (8 or more of them) appear nowhere
 *	  in the filled ParsedKey: the raw key is only hashed, never copied;
 *	- KeyName, on any input, gives "sk-..." + at most 4 characters, and for
 *	  a raw key exactly its last 4;
 *	- KeyIsEmbedded, on any input, is true exactly when the input is a raw
 *	  key or holds "sk-" and 20 or more key characters at the start of a
 *	  run of key characters (names.c refuses such names).
 *
 * A violation aborts, which libFuzzer reports as a crash with the input.
 * Build and run: test/fuzz/run.sh.
 *
 *-------------------------------------------------------------------------
 */
#include "keymgmt.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* the contract's numbers, written out again rather than taken from keymgmt.h */
#define RAW_PREFIX		"sk-"
#define RAW_PREFIX_LEN	3
#define RAW_MAX_LEN		255
#define TOKEN_LEN		64
#define DISPLAY_SIZE	40		/* sizeof(ParsedKey.display): room for a key_id */
#define NAME_PREFIX		"sk-..."
#define NAME_PREFIX_LEN	6

StaticAssertDecl(KEYMGMT_RAW_MAX_LEN == RAW_MAX_LEN, "raw key limit");
StaticAssertDecl(KEYMGMT_TOKEN_LEN == TOKEN_LEN, "token length");
StaticAssertDecl(sizeof(((ParsedKey *) 0)->display) == DISPLAY_SIZE,
				 "display buffer");

/* the filler of output buffers, so that an unwritten byte is recognisable */
#define POISON			0xA5

/*
 * Fail
 *	  Report a property violation and abort; the input is in the crash file.
 */
static void
Fail(const char *property, const uint8_t *data, size_t size)
{
	size_t		i;

	fprintf(stderr, "fuzz_key: property violated: %s\ninput (%zu bytes):",
			property, size);
	for (i = 0; i < size && i < 300; i++)
		fprintf(stderr, " %02x", data[i]);
	fprintf(stderr, "\n");
	abort();
}

#define CHECK(cond, property) \
	do { if (!(cond)) Fail((property), data, size); } while (0)

static bool
RefRawChar(uint8_t c)
{
	return strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				  "0123456789_-", c) != NULL && c != '\0';
}

static bool
RefHexChar(uint8_t c)
{
	return c != '\0' && strchr("0123456789abcdefABCDEF", c) != NULL;
}

static bool
LowerHexChar(char c)
{
	return c != '\0' && strchr("0123456789abcdef", c) != NULL;
}

/*
 * RefEmbedded
 *	  The reference for KeyIsEmbedded: the whole input is a raw key, or some
 *	  "sk-" that starts it or follows a non-key character is followed by 20
 *	  or more key characters.  Scans runs of key characters instead of
 *	  positions of "sk-".
 */
static bool
RefEmbedded(const uint8_t *s, size_t len)
{
	size_t		start = 0;

	while (start < len)
	{
		size_t		end = start;

		while (end < len && RefRawChar(s[end]))
			end++;
		/* s[start..end) is a maximal run of key characters */
		if (end - start >= RAW_PREFIX_LEN + 20 &&
			memcmp(s + start, RAW_PREFIX, RAW_PREFIX_LEN) == 0)
			return true;
		start = end + 1;
	}
	return false;
}

typedef enum RefKind
{
	REF_REFUSED,
	REF_RAW,
	REF_TOKEN
} RefKind;

/*
 * RefRecognise
 *	  The reference recogniser: what the contract says the input is.
 */
static RefKind
RefRecognise(const uint8_t *s, size_t len)
{
	size_t		i;

	if (len > RAW_MAX_LEN)
		return REF_REFUSED;
	if (len >= RAW_PREFIX_LEN + 1 && memcmp(s, RAW_PREFIX, RAW_PREFIX_LEN) == 0)
	{
		for (i = RAW_PREFIX_LEN; i < len; i++)
			if (!RefRawChar(s[i]))
				return REF_REFUSED;
		return REF_RAW;
	}
	if (len == TOKEN_LEN)
	{
		for (i = 0; i < len; i++)
			if (!RefHexChar(s[i]))
				return REF_REFUSED;
		return REF_TOKEN;
	}
	return REF_REFUSED;
}

/*
 * Sha256Hex
 *	  Lowercase hex SHA-256 of data with OpenSSL, into hex[65].
 */
static void
Sha256Hex(const uint8_t *data, size_t len, char *hex)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	unsigned int i;

	if (!EVP_Digest(data, len, digest, &dlen, EVP_sha256(), NULL) || dlen != 32)
	{
		fprintf(stderr, "fuzz_key: OpenSSL SHA-256 failed\n");
		abort();
	}
	for (i = 0; i < dlen; i++)
		sprintf(hex + 2 * i, "%02x", digest[i]);
	hex[2 * dlen] = '\0';
}

/*
 * TerminatedLength
 *	  Length of buf's string if it ends inside size bytes, else -1.
 */
static int
TerminatedLength(const char *buf, size_t size)
{
	const char *nul = memchr(buf, '\0', size);

	return nul ? (int) (nul - buf) : -1;
}

static int
CountHexDigits(const char *s)
{
	int			n = 0;

	for (; *s; s++)
		if (RefHexChar((uint8_t) *s))
			n++;
	return n;
}

/*
 * CheckKeyName
 *	  KeyName on data: "sk-..." and at most 4 characters, inside its buffer.
 *	  For a raw key (exact) the 4 characters are the key's last 4.
 */
static void
CheckKeyName(const uint8_t *data, size_t size, bool exact)
{
	char	   *name = malloc(KEYMGMT_DISPLAY_LEN);	/* exact size, for ASan */
	int			n;

	memset(name, POISON, KEYMGMT_DISPLAY_LEN);
	KeyName((const char *) data, size, name);
	n = TerminatedLength(name, KEYMGMT_DISPLAY_LEN);
	CHECK(n >= 0, "KeyName output is terminated inside its buffer");
	CHECK(n >= NAME_PREFIX_LEN && memcmp(name, NAME_PREFIX, NAME_PREFIX_LEN) == 0,
		  "KeyName output starts with sk-...");
	CHECK(n <= NAME_PREFIX_LEN + 4, "KeyName output has at most 4 characters after sk-...");
	if (exact)
		CHECK(n == NAME_PREFIX_LEN + 4 &&
			  memcmp(name + NAME_PREFIX_LEN, data + size - 4, 4) == 0,
			  "KeyName of a raw key is sk-... and its last 4 characters");
	free(name);
}

/*
 * LLVMFuzzerInitialize
 *	  Known answers first: if the hashing or the generator is wrong for a
 *	  plain input there is no point fuzzing.
 */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* from coreutils' sha256sum (printf '%s' KEY | sha256sum) */
	static const struct
	{
		const char *raw;
		const char *sha256;
	}			vectors[] = {
		{"sk-x", "9df37f5e7cbc3c391d872742b5f286c242e733a09add9eeaa4d26a599bd90b20"},
		{"sk-1234", "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"},
		{"sk-abcdefghijklmnop_-XYZ", "34f87827128239e4fc778ff79e3185a814956ad6b79251629127dd7adef31e31"},
	};
	ParsedKey	key;
	char		hex[2 * EVP_MAX_MD_SIZE + 1];
	char	   *generated;
	size_t		i;

	for (i = 0; i < lengthof(vectors); i++)
	{
		const char *raw = vectors[i].raw;

		Sha256Hex((const uint8_t *) raw, strlen(raw), hex);
		if (strcmp(hex, vectors[i].sha256) != 0 ||
			!KeyParse(raw, strlen(raw), &key) || !key.is_raw ||
			strcmp(key.token, vectors[i].sha256) != 0)
		{
			fprintf(stderr, "fuzz_key: known answer for %s is wrong\n", raw);
			abort();
		}
	}

	/* a generated key is a raw key of 3 + 43 characters that parses */
	generated = KeyGenerate();
	if (strlen(generated) != 3 + 43 ||
		RefRecognise((const uint8_t *) generated, strlen(generated)) != REF_RAW ||
		!KeyParse(generated, strlen(generated), &key) || !key.is_raw)
	{
		fprintf(stderr, "fuzz_key: KeyGenerate gave a key that does not parse\n");
		abort();
	}
	pfree(generated);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ParsedKey  *out = malloc(sizeof(ParsedKey));	/* exact size, for ASan */
	RefKind		expected = RefRecognise(data, size);
	bool		accepted;
	int			n;
	size_t		i;

	memset(out, POISON, sizeof(ParsedKey));
	accepted = KeyParse((const char *) data, size, out);

	/* KeyName is defined for any bytes: check its shape on every input */
	CheckKeyName(data, size, false);

	/* so is KeyIsEmbedded: a name holds a raw key, whole or inside it */
	CHECK(KeyIsEmbedded((const char *) data, size) ==
		  (expected == REF_RAW || RefEmbedded(data, size)),
		  "KeyIsEmbedded agrees with the reference");

	if (size > RAW_MAX_LEN)
		CHECK(!accepted, "an input over 255 bytes is refused");
	CHECK(accepted == (expected != REF_REFUSED),
		  accepted ? "KeyParse accepted what the reference refuses"
		  : "KeyParse refused what the reference accepts");
	if (!accepted)
	{
		free(out);
		return 0;
	}
	CHECK(out->is_raw == (expected == REF_RAW), "is_raw agrees with the reference");

	/* token: 64 lowercase hex digits, terminated */
	CHECK(out->token[TOKEN_LEN] == '\0', "token is terminated after 64 characters");
	for (i = 0; i < TOKEN_LEN; i++)
		CHECK(LowerHexChar(out->token[i]), "token is 64 lowercase hex digits");

	/* display: terminated, and never more than 12 hex digits of the token */
	n = TerminatedLength(out->display, sizeof(out->display));
	CHECK(n >= 0, "display is terminated inside its buffer");
	CHECK(CountHexDigits(out->display) <= 12, "display has at most 12 hex digits");

	if (out->is_raw)
	{
		char		hex[2 * EVP_MAX_MD_SIZE + 1];
		size_t		secret = size - RAW_PREFIX_LEN;

		Sha256Hex(data, size, hex);
		CHECK(strcmp(out->token, hex) == 0, "a raw key's token is its SHA-256");

		if (secret >= 8)
		{
			CHECK(n == NAME_PREFIX_LEN + 4 &&
				  memcmp(out->display, NAME_PREFIX, NAME_PREFIX_LEN) == 0 &&
				  memcmp(out->display + NAME_PREFIX_LEN, data + size - 4, 4) == 0,
				  "display of a raw key is sk-... and its last 4 characters");
			/* not copied anywhere: the random part is nowhere in *out */
			CHECK(memmem(out, sizeof(ParsedKey), data + RAW_PREFIX_LEN, secret) == NULL,
				  "the raw key is not copied into ParsedKey");
		}
		else
			CHECK(strcmp(out->display, NAME_PREFIX) == 0,
				  "display of a raw key with under 8 characters after sk- is sk-...");

		CheckKeyName(data, size, true);
	}
	else
	{
		for (i = 0; i < TOKEN_LEN; i++)
		{
			uint8_t		c = data[i];
			char		lower = (c >= 'A' && c <= 'F') ? (char) (c - 'A' + 'a') : (char) c;

			CHECK(out->token[i] == lower, "a token is normalised to lowercase");
		}
		CHECK(n == 12 + 3 && memcmp(out->display, out->token, 12) == 0 &&
			  strcmp(out->display + 12, "...") == 0,
			  "display of a token is its first 12 digits and ...");
	}

	free(out);
	return 0;
}
