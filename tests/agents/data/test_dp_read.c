/*
 * test_dp_read.c - records from CSV (header names made unique, quoted
 * fields, short rows, blank rows, invalid UTF-8, TSV by extension), JSON
 * Lines (bad lines skipped with their line numbers), JSON arrays, the
 * max_records stop, missing files, and the real leads-10000.csv.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "agents/data/dp_read.h"
#include "agents/data/dptest.h"
#include "core/fs.h"

static void read_text(const char *text, size_t max, json_t **recs,
                      json_t **errs)
{
    cr_assert_eq(dp_read_records(text, false, max, recs, errs), 0);
}

Test(dp_read, csv_text)
{
    json_t *recs, *errs;
    read_text(
        /* 1: a blank name and a repeated one */
        "name,email,,name\r\n"
        /* 2 */ "Alice,a@x.com,1,A2\r\n"
        /* 3-4: a comma and a line break inside quotes */
        "\"Smith, Bob\",\"b@x.com\",2,\"multi\nline\"\r\n"
        /* 5: two fields short: skipped with an error */
        "Carol,c@x.com\r\n"
        /* 6: all empty: skipped quietly */
        ",,,\r\n"
        /* 7: the last line without its line break */
        "Dave,d@x.com,4,\"D \"\"2\"\"\"",
        0, &recs, &errs);
    dpt_expect(
        recs,
        "[{\"name\":\"Alice\",\"email\":\"a@x.com\",\"column_3\":\"1\",\"name_"
        "2\":\"A2\"},"
        " {\"name\":\"Smith, Bob\",\"email\":\"b@x.com\",\"column_3\":\"2\","
        "  \"name_2\":\"multi\\nline\"},"
        " {\"name\":\"Dave\",\"email\":\"d@x.com\",\"column_3\":\"4\","
        "  \"name_2\":\"D \\\"2\\\"\"}]",
        "records");
    dpt_expect(errs, "[{\"line\":5,\"message\":\"expected 4 fields, got 2\"}]",
               "errors");
    json_decref(recs);
    json_decref(errs);
}

Test(dp_read, csv_bad_bytes_and_unterminated_quote)
{
    json_t *recs, *errs;
    read_text("\xef\xbb\xbf"
              "a,b\n"    /* a byte order mark: dropped */
              "1,\xff\n" /* not UTF-8 */
              "2,ok\n"
              "3,\"open\n", /* swallows the rest */
              0, &recs, &errs);
    dpt_expect(recs, "[{\"a\":\"2\",\"b\":\"ok\"}]", "records");
    dpt_expect(errs,
               "[{\"line\":2,\"message\":\"field 'b' is not UTF-8 text\"},"
               " {\"line\":4,\"message\":\"unterminated quoted field\"}]",
               "errors");
    json_decref(recs);
    json_decref(errs);
}

Test(dp_read, jsonl_text)
{
    json_t *recs, *errs;
    read_text("{\"a\":1}\n"
              "\n"                     /* blank: skipped */
              "{\"a\":\n"              /* line 3: cut short */
              "[1,2]\n"                /* line 4: not an object */
              "  {\"b\":\"x\"}  \r\n", /* line 5: blanks and CRLF */
              0, &recs, &errs);
    dpt_expect(recs, "[{\"a\":1},{\"b\":\"x\"}]", "records");
    cr_expect_eq(json_array_size(errs), 2);
    cr_expect_eq(
        json_integer_value(json_object_get(json_array_get(errs, 0), "line")),
        3);
    dpt_expect(json_array_get(errs, 1),
               "{\"line\":4,\"message\":\"not a JSON object\"}",
               "second error");
    json_decref(recs);
    json_decref(errs);
}

Test(dp_read, json_array_text)
{
    json_t *recs, *errs;
    read_text(" [{\"a\":1}, 2, {\"b\":2}]", 0, &recs, &errs);
    dpt_expect(recs, "[{\"a\":1},{\"b\":2}]", "records");
    dpt_expect(errs, "[{\"index\":1,\"message\":\"not a JSON object\"}]",
               "errors");
    json_decref(recs);
    json_decref(errs);
    cr_expect_eq(dp_read_records("[{\"a\":1}", false, 0, &recs, &errs),
                 FS_EINVAL);
    cr_expect_null(recs);
    cr_expect_eq(json_array_size(errs), 1);
    json_decref(errs);
}

Test(dp_read, max_records_stops_reading)
{
    json_t *recs, *errs;
    read_text("n\n1\n2\n3\n4\n", 2, &recs, &errs);
    dpt_expect(recs, "[{\"n\":\"1\"},{\"n\":\"2\"}]", "records");
    dpt_expect(errs,
               "[{\"line\":4,\"message\":\"stopped at max_records (2): the "
               "rest is not read\"}]",
               "errors");
    json_decref(recs);
    json_decref(errs);
}

Test(dp_read, empty_inputs)
{
    json_t *recs, *errs;
    read_text("", 0, &recs, &errs);
    cr_expect_eq(json_array_size(recs), 0);
    cr_expect_eq(json_array_size(errs), 0);
    json_decref(recs);
    json_decref(errs);
    read_text("only,a,header\n", 0, &recs, &errs);
    cr_expect_eq(json_array_size(recs), 0);
    json_decref(recs);
    json_decref(errs);
}

Test(dp_read, files_tsv_and_missing)
{
    char path[] = "/tmp/dp_read_XXXXXX.tsv";
    int fd = mkstemps(path, 4);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs("a\tb\n1\tx,y\n", f);
    fclose(f);
    json_t *recs, *errs;
    cr_assert_eq(dp_read_records(path, true, 0, &recs, &errs), 0);
    dpt_expect(recs, "[{\"a\":\"1\",\"b\":\"x,y\"}]", "records");
    json_decref(recs);
    json_decref(errs);
    unlink(path);
    cr_expect_eq(dp_read_records(path, true, 0, &recs, &errs), FS_EIO);
    cr_expect_null(recs);
    cr_expect_eq(json_array_size(errs), 1);
    json_decref(errs);
}

Test(dp_read, leads_10000)
{
    const char *path = dpt_leads_path();
    if (!path)
        cr_skip_test("leads-10000.csv not found (set FLOWSTATE_DATA_DIR)");
    json_t *recs, *errs;
    cr_assert_eq(dp_read_records(path, true, 0, &recs, &errs), 0);
    cr_expect_eq(json_array_size(recs), 10000);
    cr_expect_eq(json_array_size(errs), 0);
    /* The first data row, CRLF gone. */
    dpt_expect(
        json_array_get(recs, 0),
        "{\"Index\":\"1\",\"Account Id\":\"2FCBFE58CC70308\","
        " \"Lead Owner\":\"Selena Doyle\",\"First Name\":\"Jaime\","
        " \"Last Name\":\"Hayes\",\"Company\":\"Mays Inc\","
        " \"Phone 1\":\"9802005297\",\"Phone 2\":\"917-584-0243x4606\","
        " \"Email 1\":\"fstephens@shepherd.info\","
        " \"Email "
        "2\":\"rusheddie@massey.info\",\"Website\":\"https://black.com/\","
        " \"Source\":\"LinkedIn Outreach\",\"Deal Stage\":\"On Hold\","
        " \"Notes\":\"Heart represent while into.\"}",
        "first record");
    json_decref(recs);
    json_decref(errs);
}
