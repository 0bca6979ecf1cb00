-- Regions: the hierarchy KR > province > city > district, their real boundaries
-- as native polygons (no PostGIS needed) and point-to-region resolution.

CREATE TABLE regions (
    code varchar(20) PRIMARY KEY,
    name varchar(100) NOT NULL,
    name_en varchar(100),
    parent_code varchar(20) REFERENCES regions (code),
    region_type region_type NOT NULL,
    center point,
    bbox box,
    boundary jsonb,
    settings jsonb NOT NULL DEFAULT '{}',
    is_active boolean NOT NULL DEFAULT true,
    user_count integer NOT NULL DEFAULT 0,
    question_count integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT valid_region_code CHECK (code ~ '^[A-Z]{2}(-[0-9]{2}){0,3}$'),
    CONSTRAINT root_is_country CHECK ((parent_code IS NULL) = (region_type = 'country')),
    CONSTRAINT code_extends_parent CHECK (parent_code IS NULL OR code LIKE parent_code || '-%'),
    CONSTRAINT valid_center CHECK (
        center IS NULL OR (center[0] BETWEEN -180 AND 180 AND center[1] BETWEEN -90 AND 90)
    ),
    CONSTRAINT non_negative_counts CHECK (user_count >= 0 AND question_count >= 0)
);

CREATE INDEX regions_hierarchy_idx ON regions (parent_code, region_type);
CREATE INDEX regions_center_gist ON regions USING gist (center);

CREATE TRIGGER regions_set_updated_at BEFORE UPDATE ON regions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- One row per outer ring of a region's (repaired) boundary. ``shape`` is in
-- degrees (x = longitude, y = latitude) for containment; ``shape_km`` is the same
-- ring on a local kilometre plane (see geo_plane) so that ``<->`` is a distance.
CREATE TABLE region_shapes (
    region_code varchar(20) NOT NULL REFERENCES regions (code) ON DELETE CASCADE,
    part smallint NOT NULL,
    shape polygon NOT NULL,
    holes polygon[] NOT NULL DEFAULT '{}',
    shape_km polygon NOT NULL,
    PRIMARY KEY (region_code, part)
);

CREATE INDEX region_shapes_shape_gist ON region_shapes USING gist (shape);
CREATE INDEX region_shapes_shape_km_gist ON region_shapes USING gist (shape_km);

-- Equirectangular projection around 33.4°N (Jeju): kilometres east/north of
-- (0°, 0°). Error stays under 1% across the island and Chuja, far below the
-- 2 km snapping radius. dongne.geo.projection mirrors it for loaded shapes.
CREATE FUNCTION geo_plane(p point) RETURNS point
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT point(p[0] * 111.320 * cos(radians(33.4)), p[1] * 110.950)
$$;

-- The active district containing p (lng/lat) or, failing that, the nearest one
-- within max_km. Containment is answered by the GiST index through the
-- overlap test with a degenerate polygon; nearest by a GiST KNN scan.
CREATE FUNCTION region_at(p point, max_km double precision DEFAULT 2.0)
RETURNS TABLE (code varchar, distance_km double precision)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH inside AS (
        SELECT s.region_code AS code, 0.0::double precision AS distance_km
        FROM region_shapes s
        JOIN regions r ON r.code = s.region_code
        WHERE r.region_type = 'district' AND r.is_active
          AND s.shape && polygon(box(p, p))
          AND s.shape @> p
          AND NOT EXISTS (SELECT 1 FROM unnest(s.holes) AS h WHERE h @> p)
        ORDER BY s.region_code
        LIMIT 1
    ), nearest AS (
        SELECT s.region_code AS code, s.shape_km <-> geo_plane(p) AS distance_km
        FROM region_shapes s
        JOIN regions r ON r.code = s.region_code
        WHERE r.region_type = 'district' AND r.is_active
        ORDER BY s.shape_km <-> geo_plane(p)
        LIMIT 1
    )
    SELECT * FROM inside
    UNION ALL
    SELECT * FROM nearest
    WHERE NOT EXISTS (SELECT 1 FROM inside) AND nearest.distance_km <= max_km
$$;

CREATE TABLE categories (
    code varchar(50) PRIMARY KEY,
    name varchar(50) NOT NULL,
    sort_order smallint NOT NULL,
    CONSTRAINT valid_category_code CHECK (code ~ '^[a-z][a-z_]{1,49}$')
);

INSERT INTO categories (code, name, sort_order) VALUES
    ('food', '맛집', 1),
    ('transport', '교통', 2),
    ('lodging', '숙소', 3),
    ('travel', '관광', 4),
    ('living', '생활', 5),
    ('weather', '날씨', 6),
    ('medical', '의료', 7),
    ('education', '육아·교육', 8),
    ('housing', '부동산', 9),
    ('jobs', '일자리', 10),
    ('lost_found', '분실물', 11),
    ('other', '기타', 12);
