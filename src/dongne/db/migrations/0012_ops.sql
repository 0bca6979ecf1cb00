-- Reserved for the operations work (issue 6): replaced by its real migration.
SELECT 1;
