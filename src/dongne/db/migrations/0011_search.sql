-- Reserved for the search work (issue 5): replaced by its real migration.
SELECT 1;
