package dev.kataoperator.operator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** crds/ is generated from the Java types; this fails when the checked-in copy is stale. */
@Tag("unit")
class CrdUpToDateTest {

  @Test
  void checkedInCrdsMatchTheGeneratedOnes() throws IOException {
    Path generated = Path.of(System.getProperty("kata.crds.generated.dir"));
    Path checkedIn = Path.of(System.getProperty("kata.crds.dir"));
    List<Path> files;
    try (Stream<Path> s = Files.list(generated)) {
      files = s.filter(p -> p.toString().endsWith(".yml")).sorted().toList();
    }
    assertFalse(files.isEmpty(), "crd-generator produced nothing in " + generated);
    for (Path g : files) {
      Path c = checkedIn.resolve(g.getFileName());
      String hint =
          c
              + " is stale (or missing): regenerate it with"
              + " `./mvnw -pl operator -Pupdate-crds process-classes` and commit it";
      assertEquals(Files.readString(g), Files.exists(c) ? Files.readString(c) : "", hint);
    }
  }
}
