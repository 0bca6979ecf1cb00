"""Points and badges: the ledger, earn and spend rules, badge awards."""
