package dev.lamina.snapshots.storage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class FilterTest {
  /** name=foo, kind=active, parent="", labels a=1, "x.y/z"=w. */
  private static final Filter.Adaptor OBJECT = path -> {
    Map<String, String> labels = Map.of("a", "1", "x.y/z", "w", "sp", "with space");
    return switch (path.get(0)) {
      case "name" -> Optional.of("foo");
      case "kind" -> Optional.of("active");
      case "parent" -> Optional.of("");
      case "labels" -> Optional.ofNullable(labels.get(String.join(".", path.subList(1, path.size()))));
      default -> Optional.empty();
    };
  };

  @ParameterizedTest
  @CsvSource(delimiter = '#', value = {
      "name==foo#true",
      "name==bar#false",
      "name!=bar#true",
      "name~=^f#true",
      "name~=/o+$/#true",
      "name~=|x|#false",
      "kind==active,name==foo#true",
      "kind==active,name==bar#false",
      "labels.a#true",
      "labels.b#false",
      "labels.b!=1#true",
      "labels.a==1#true",
      "labels.\"x.y/z\"==w#true",
      "parent==\"\"#true",
      "parent!=\"\"#false",
      "labels.sp==\"with space\"#true",
      "labels.a == 1 , name == foo#true",
      "nosuchfield#false",
      "nosuchfield!=x#true",
      "name==\"f\\x6fo\"#true",
      "name==\"\\u0066oo\"#true",
  })
  void matchesLikeContainerd(String filter, boolean expected) throws Exception {
    assertThat(Filter.parseAll(List.of(filter)).match(OBJECT)).as(filter).isEqualTo(expected);
  }

  @ParameterizedTest
  @ValueSource(strings = {"name==", "name=x", "name===x", ",", "name==foo,", "labels.", "labels.\"open", "name~=/unterminated", "name==/x/", "name~=\"[\"", "1name==\"bad\\q\"", ".name", "labels.x.y/z==w"})
  void rejectsMalformedFilters(String filter) {
    assertThatThrownBy(() -> Filter.parseAll(List.of(filter)))
        .isInstanceOf(LaminaException.class)
        .satisfies(e -> assertThat(((LaminaException) e).kind()).isEqualTo(ErrorKind.INVALID_ARGUMENT));
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {"name==bar|name==foo|true", "name==bar|kind==view|false"})
  void severalFiltersMatchWhenAnyDoes(String a, String b, boolean expected) throws Exception {
    assertThat(Filter.parseAll(List.of(a, b)).match(OBJECT)).isEqualTo(expected);
  }

  @ParameterizedTest
  @ValueSource(strings = {""})
  void noneOrEmptyMatchesEverything(String empty) throws Exception {
    assertThat(Filter.parseAll(List.of()).match(OBJECT)).isTrue();
    assertThat(Filter.parseAll(List.of(empty)).match(OBJECT)).isTrue();
  }
}
