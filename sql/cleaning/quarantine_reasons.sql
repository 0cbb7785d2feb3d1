-- model:
--   materialized: view
--   published: live
--   grain: one row per source and quarantine reason
--   unique: source, reason
--   not_null: source, reason, check_order
--   accepted_values: source = transactions | customers
-- One row per reason a source row can be quarantined for, in the order the
-- checks run (a row gets the first that fails), with the hint segkit prints
-- when a reason rejects many rows. The one list of reasons: the checks in
-- cleaning.transactions_screened, cleaning.transactions_checked and
-- cleaning.customers_checked name only these (a test holds them to it).
with

reasons as (
    select * from (
        values
            ('transactions', 1, 'missing customer id',
             'check that customer_id names the right column of [transactions]'),
            ('transactions', 2, 'missing or unparseable timestamp',
             'if dates are written another way, set timestamp_format in [transactions], '
             || 'e.g. "%d/%m/%Y" (a list tries each format)'),
            ('transactions', 3, 'cancellation or return',
             'negative quantities are returns; if these are real orders, check '
             || 'cancellation_prefix in [transactions]'),
            ('transactions', 4, 'amount missing or not a number',
             'amounts need a decimal point, not a comma ("12.50")'),
            ('transactions', 5, 'amount too large',
             'amounts of 10^14 or more (quantities of 10^15, unit prices of 10^12) '
             || 'are not kept; check the columns mapped in [transactions]'),
            ('transactions', 6, 'amount zero or negative',
             'free items and refunds carry no spend'),
            ('transactions', 7, 'exact duplicate of an earlier row',
             'an identical line with the same order id is a repeated export'),
            ('transactions', 8, 'timestamp after the as-of date',
             'lines after the as-of date are not used; give a later --as-of to use them'),
            ('customers', 1, 'missing customer id',
             'check that customer_id names the right column of [customers]'),
            ('customers', 2, 'duplicate customer id',
             'one row per customer is kept, the same one on every build')
    ) as reason_list (source, check_order, reason, hint)
)

select * from reasons
