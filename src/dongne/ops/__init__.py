"""Operations: database reports, the index recommender, the query analyser, pool resizing."""
